"""The Human3.6M-17 skeleton and the joint groupings ("parts") that get their own decoders.

The paper's premise (Chen et al., ECCV 2020, Sec. 1): body parts are heterogeneous -- a wrist
has far more freedom than the torso -- so each *part* (a group of joints) should get a decoder
architecture of its own.  This module names the joints, the bones that connect them, the
left/right pairs used for flip augmentation, and the part groupings partnas can search over.

Joint order is the Human3.6M-17 order used by 3DMPPE, I2L-MeshNet, VideoPose3D and mmpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",  # 0 (root)
    "r_hip",  # 1
    "r_knee",  # 2
    "r_ankle",  # 3
    "l_hip",  # 4
    "l_knee",  # 5
    "l_ankle",  # 6
    "spine",  # 7 (torso)
    "thorax",  # 8 (neck)
    "nose",  # 9
    "head",  # 10 (head top)
    "l_shoulder",  # 11
    "l_elbow",  # 12
    "l_wrist",  # 13
    "r_shoulder",  # 14
    "r_elbow",  # 15
    "r_wrist",  # 16
)
NUM_JOINTS = len(JOINT_NAMES)
ROOT = 0

#: (parent, child) pairs; every joint but the root has exactly one parent.
BONES: tuple[tuple[int, int], ...] = (
    (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13),
    (8, 14), (14, 15), (15, 16),
    (0, 1), (1, 2), (2, 3),
    (0, 4), (4, 5), (5, 6),
)

#: Left/right joint pairs swapped when an image is mirrored.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16))

#: Parent of each joint (-1 for the root), derived from BONES.
PARENTS: tuple[int, ...] = tuple(
    next((p for p, c in BONES if c == j), -1) for j in range(NUM_JOINTS)
)


def bone_lengths(joints_mm: np.ndarray) -> np.ndarray:
    r"""``(..., 16)`` lengths (mm) of the bones of ``joints_mm`` ``(..., 17, 3)``, in
    :data:`BONES` order: :math:`\lVert X_{child} - X_{parent} \rVert_2`."""
    j = np.asarray(joints_mm, dtype=np.float64)
    parents, children = zip(*BONES)
    return np.linalg.norm(j[..., list(children), :] - j[..., list(parents), :], axis=-1)


def flip_permutation() -> list[int]:
    """Index list that swaps left and right joints: ``joints[flip_permutation()]``."""
    perm = list(range(NUM_JOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


@dataclass(frozen=True)
class PartGrouping:
    """A partition of the 17 joints into named parts, each decoded by its own searched head.

    ``parts`` maps a part name to the joint indices it owns.  Every joint belongs to exactly
    one part; :func:`make_grouping` checks this.
    """

    name: str
    parts: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def part_names(self) -> list[str]:
        return [n for n, _ in self.parts]

    @property
    def joint_lists(self) -> list[list[int]]:
        return [list(j) for _, j in self.parts]

    def __len__(self) -> int:
        return len(self.parts)

    def part_of_joint(self) -> list[str]:
        """Name of the part that owns each joint, in joint order."""
        owner = [""] * NUM_JOINTS
        for name, joints in self.parts:
            for j in joints:
                owner[j] = name
        return owner

    def to_json(self) -> dict[str, list[int]]:
        return {name: list(joints) for name, joints in self.parts}


def make_grouping(name: str, parts: dict[str, Sequence[int]]) -> PartGrouping:
    """Build a :class:`PartGrouping`, checking that every joint is in exactly one part."""
    if not parts:
        raise ValueError(f"part grouping {name!r}: needs at least one part")
    seen: dict[int, str] = {}
    for part, joints in parts.items():
        if not joints:
            raise ValueError(f"part grouping {name!r}: part {part!r} has no joints")
        for j in joints:
            if not isinstance(j, int) or not 0 <= j < NUM_JOINTS:
                raise ValueError(
                    f"part grouping {name!r}: part {part!r} has joint {j!r}; "
                    f"expected an index in 0..{NUM_JOINTS - 1}"
                )
            if j in seen:
                raise ValueError(
                    f"part grouping {name!r}: joint {j} ({JOINT_NAMES[j]}) is in both "
                    f"{seen[j]!r} and {part!r}; every joint must be in exactly one part"
                )
            seen[j] = part
    missing = sorted(set(range(NUM_JOINTS)) - set(seen))
    if missing:
        names = ", ".join(f"{j} ({JOINT_NAMES[j]})" for j in missing)
        raise ValueError(f"part grouping {name!r}: joints {names} are in no part")
    return PartGrouping(name, tuple((p, tuple(int(j) for j in js)) for p, js in parts.items()))


#: Named groupings.  ``5`` is the project default (docs/method.md Sec. 2): the kinematic parts.
GROUPINGS: dict[str, dict[str, list[int]]] = {
    "1": {"body": list(range(NUM_JOINTS))},
    "3": {
        "head": [7, 8, 9, 10],
        "upper_limbs": [11, 12, 13, 14, 15, 16],
        "lower_limbs": [0, 1, 2, 3, 4, 5, 6],
    },
    "5": {
        "torso_head": [0, 7, 8, 9, 10],
        "right_arm": [14, 15, 16],
        "left_arm": [11, 12, 13],
        "right_leg": [1, 2, 3],
        "left_leg": [4, 5, 6],
    },
    "17": {name: [j] for j, name in enumerate(JOINT_NAMES)},
}


def get_grouping(spec: str | dict[str, Sequence[int]]) -> PartGrouping:
    """A grouping by name (``"1"``, ``"3"``, ``"5"``, ``"17"``) or from a user dict.

    A user grouping is a dict ``{part_name: [joint indices]}``, e.g. from a config file.
    """
    if isinstance(spec, dict):
        return make_grouping("custom", spec)
    key = str(spec)
    if key not in GROUPINGS:
        raise ValueError(
            f"unknown part grouping {spec!r}; expected one of {sorted(GROUPINGS)} "
            "or a dict {part_name: [joint indices]}"
        )
    return make_grouping(key, GROUPINGS[key])
