"""Small hand-made inputs shared by tests in several folders: a standing person in camera space, a
few samples of it, a two-part search history, and three cells with known statistics."""

from __future__ import annotations

import numpy as np

from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.synth.body import Body, forward_kinematics, neutral_angles
from partnas_lib.nas.genotype import CellGenotype
from partnas_lib.skeleton import NUM_JOINTS


def standing_pose(offset=(0.0, 0.0, 5000.0)) -> np.ndarray:
    """A standing person in camera space: body frame (x fwd, y left, z up) facing the camera."""
    body = forward_kinematics(Body.mean(), neutral_angles())
    cam = np.stack([body[:, 1], -body[:, 2], -body[:, 0]], axis=-1)  # X right, Y down, Z forward
    return cam + np.asarray(offset)


def toy_arrays(n: int = 3, size: int = 32) -> SampleArrays:
    rng = np.random.default_rng(0)
    j3 = np.stack([standing_pose((100.0 * i, 0.0, 4000.0 + 500 * i)) for i in range(n)]).astype(np.float32)
    intr = np.tile(np.array([1000.0, 1000.0, 500.0, 500.0], np.float32), (n, 1))
    j2 = j3[..., :2] / j3[..., 2:] * 1000.0 + 500.0
    bbox = np.stack([np.r_[j2[i].min(0) - 50, (j2[i].max(0) - j2[i].min(0)).max() + 100] for i in range(n)])
    bbox = np.concatenate([bbox, bbox[:, 2:3]], axis=1).astype(np.float32)
    return SampleArrays(
        images=rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8), joints_2d=j2.astype(np.float32),
        joints_3d=j3, joints_vis=np.ones((n, NUM_JOINTS), bool), root_depth=j3[:, 0, 2].copy(),
        intrinsics=intr, bbox=bbox, has_3d=np.ones(n, bool),
        meta=[{"action": "standing", "subject": f"s{i}"} for i in range(n)],
    )


def history_json() -> dict:
    """Two parts, three ops, two recorded epochs after init (alpha per edge is the same on all 9)."""
    ops = ["none", "skip_connect", "sep_conv_3x3"]
    edges = [[0, 2], [1, 2], [0, 3], [1, 3], [2, 3], [0, 4], [1, 4], [2, 4], [3, 4]]

    def part(a, beta):
        return {"alpha": [list(a)] * 9, "beta": list(beta), "alpha_logits": [[0, 0, 0]] * 9, "beta_logits": [0] * 9}

    uniform_beta = [0.5, 0.5, 1 / 3, 1 / 3, 1 / 3, 0.25, 0.25, 0.25, 0.25]
    cell = [[["sep_conv_3x3", 0], ["skip_connect", 1]], [["sep_conv_3x3", 2], ["sep_conv_3x3", 0]],
            [["skip_connect", 3], ["sep_conv_3x3", 1]]]
    rows = [
        {"epoch": 0, "phase": "init",
         "parts": {"a": part([1 / 3] * 3, uniform_beta), "b": part([1 / 3] * 3, uniform_beta)}},
        {"epoch": 1, "phase": "warmup", "w_loss": 2.0, "a_loss": None,
         "parts": {"a": part([1 / 3] * 3, uniform_beta), "b": part([1 / 3] * 3, uniform_beta)},
         "genotype": {"a": cell, "b": cell}},
        {"epoch": 2, "phase": "search", "w_loss": 1.5, "a_loss": 1.6,
         "parts": {"a": part([0.0, 0.5, 0.5], uniform_beta), "b": part([0.0, 0.0, 1.0], uniform_beta)},
         "genotype": {"a": cell, "b": cell}},
    ]
    return {"ops": ops, "parts": ["a", "b"], "edges": edges, "partial_channels": 4, "edge_norm": True,
            "epochs": rows, "search_seconds": 12.5}


def cell_of(nodes) -> CellGenotype:
    return CellGenotype(tuple(tuple(node) for node in nodes))


MIXED = cell_of([[("skip_connect", 0), ("sep_conv_3x3", 1)], [("sep_conv_5x5", 2), ("max_pool_3x3", 0)],
               [("dil_conv_3x3", 3), ("skip_connect", 1)]])


SKIPS = cell_of([[("skip_connect", 0), ("skip_connect", 1)], [("skip_connect", 0), ("skip_connect", 2)],
               [("skip_connect", 2), ("skip_connect", 3)]])


CHAIN = cell_of([[("sep_conv_3x3", 1), ("skip_connect", 0)], [("sep_conv_3x3", 2), ("skip_connect", 0)],
               [("sep_conv_3x3", 3), ("skip_connect", 1)]])
