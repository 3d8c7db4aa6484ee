"""Synthetic people: procedural bodies and poses, a ray caster, single- and multi-person data.

Layers, each importing only the ones before it:

1. :mod:`~partnas_lib.data.synth.body` -- a subject (bone lengths, limb radii, clothes), joint
   angles and forward kinematics; :mod:`~partnas_lib.data.synth.actions` -- actions as
   distributions over joint angles, and placing a pose in the world;
2. :mod:`~partnas_lib.data.synth.capsules` -- a posed body as capsules;
   :mod:`~partnas_lib.data.synth.raycast` -- the batched ray caster and its shading;
   :mod:`~partnas_lib.data.synth.render` -- backgrounds, light, and whole images;
3. :mod:`~partnas_lib.data.synth.pose_source` -- procedural or motion-capture poses;
4. :mod:`~partnas_lib.data.synth.synthetic` -- single-person training splits and their cache;
   :mod:`~partnas_lib.data.synth.scenes` -- multi-person frames;
   :mod:`~partnas_lib.data.synth.scene_splits` -- their per-person crops, splits and cache.
"""
