"""Mean Human3.6M proportions: the bone lengths every part of the data layer measures against.

The procedural bodies scale them (:mod:`partnas_lib.data.synth.body`), ``partnas data check``
compares a dataset's limbs with them (:func:`partnas_lib.data.sanity.limb_length_report`), and
retargeting gives motion capture Human3.6M's proportions (:mod:`partnas_lib.data.mocap.retarget`).
"""

from __future__ import annotations

#: Mean Human3.6M bone lengths (mm), keyed by the :class:`~partnas_lib.data.synth.body.Body`
#: field that stores them.
MEAN_BONE_LENGTHS: dict[str, float] = {
    "pelvis_hip": 132.0,
    "hip_knee": 442.0,
    "knee_ankle": 454.0,
    "pelvis_spine": 233.0,
    "spine_thorax": 257.0,
    "thorax_nose": 121.0,
    "nose_head": 115.0,
    "thorax_shoulder": 151.0,
    "shoulder_elbow": 278.0,
    "elbow_wrist": 251.0,
}

#: Mean leg length, hip to ankle (mm): the size measure of a body (thigh + shin).
MEAN_LEG_MM = MEAN_BONE_LENGTHS["hip_knee"] + MEAN_BONE_LENGTHS["knee_ankle"]

__all__ = ["MEAN_BONE_LENGTHS", "MEAN_LEG_MM"]
