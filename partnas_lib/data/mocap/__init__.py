"""Real motion capture (BVH) as a source of Human3.6M-17 poses.

Procedural poses (:mod:`partnas_lib.data.synth.actions`) are plausible but simple; real people
move in ways no hand-written distribution captures (weight shifts, arm swing, a bow, a kick).
BVH (Biovision Hierarchy) is the common text format of optical motion capture, and this package
turns a folder of BVH clips into Human3.6M-17 poses that the synthetic renderer can draw
(``DataConfig.pose_source = "bvh:/path/to/folder"``, :mod:`partnas_lib.data.synth.pose_source`).
One module per step, each importing only the ones before it:

1. :mod:`~partnas_lib.data.mocap.bvh` -- parse a BVH file (hierarchy and channel values);
2. :mod:`~partnas_lib.data.mocap.kinematics` -- forward kinematics, in partnas' world (mm, Z up);
3. :mod:`~partnas_lib.data.mocap.retarget` -- map a BVH skeleton onto Human3.6M-17;
4. :mod:`~partnas_lib.data.mocap.library` -- a folder of clips: caching and train/val/test splits;
5. :mod:`~partnas_lib.data.mocap.check` -- ``partnas data check --dataset bvh``.

Licence note: BVH datasets such as Bandai Namco's (CC BY-NC 4.0) or CMU's must not be copied into
this repository; partnas reads them from wherever the user keeps them and caches derived arrays
only under ``$PARTNAS_CACHE`` (outside the repository).
"""
