"""The numbers behind the pictures: search histories, entropy, receptive fields, op costs.

Everything here is plain computation (numpy, JSON), so it is tested without drawing anything;
:mod:`partnas_lib.viz.search`, :mod:`partnas_lib.viz.results` and the notebooks only plot what
these functions return.

* :class:`SearchHistory` reads ``search/alpha_history.json`` into arrays: the softmaxed
  ``alpha`` of every part, edge and op after every epoch, ``beta`` likewise, and the losses.
* :func:`entropy` / :func:`alpha_entropy`: how undecided the search still is.  A uniform
  mixture over ``O`` ops has entropy ``log O`` (normalised: 1); a one-hot choice has 0.
* :func:`cell_receptive_field` / :func:`part_receptive_fields`: the theoretical receptive field
  (in input-image pixels) that each part's derived head reaches.  Parts whose searched cells
  chain large kernels see more context; parts built from skip connections see no more than the
  trunk does.
* :func:`op_parameter_counts`: what each candidate op costs in weights.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from partnas_lib.nas.genotype import NUM_INPUTS, CellGenotype, Genotype
from partnas_lib.io import read_json, to_jsonable
from partnas_lib.skeleton import BONES, FLIP_PAIRS, bone_lengths

#: Ops without weights.  DARTS searches are known to drift towards them ("skip-connection
#: collapse"): they make the supernet easy to train early on, long before they make it good.
PARAMETER_FREE_OPS: frozenset[str] = frozenset({"none", "skip_connect", "max_pool_3x3", "avg_pool_3x3"})

#: How much each op widens the receptive field, in pixels *of the feature map it runs on*.
#: A k x k conv adds ``k - 1``; ``sep_conv_kxk`` stacks two of them (``2 (k - 1)``);
#: ``dil_conv_kxk`` (dilation 2) is one k x k kernel spread over ``2k - 1`` pixels
#: (``2 (k - 1)``); 3x3 pooling adds 2; a skip connection adds nothing.  ``none`` carries no
#: signal and is never a derived edge.
OP_RF_GROWTH: dict[str, int] = {
    "skip_connect": 0,
    "max_pool_3x3": 2,
    "avg_pool_3x3": 2,
    "sep_conv_3x3": 4,
    "sep_conv_5x5": 8,
    "dil_conv_3x3": 4,
    "dil_conv_5x5": 8,
}


# --------------------------------------------------------------------------------------------
# search history


@dataclass
class SearchHistory:
    """``search/alpha_history.json`` as arrays (one row per recorded epoch; row 0 = init).

    Attributes:
        ops: op names, the last axis of ``alpha``.
        parts: part names, axis 1 of ``alpha`` / ``beta``.
        edges: ``(source, target)`` of the 9 mixed edges, axis 2 of ``alpha``.
        epochs: ``(E,)`` epoch numbers (0 = before training).
        phases: ``"init"``, ``"warmup"`` (alpha frozen) or ``"search"`` per row.
        alpha: ``(E, P, 9, O)`` softmax over ops of each edge.
        beta: ``(E, P, 9)`` softmax over the incoming edges of each node, or None (plain DARTS).
        w_loss, a_loss: ``(E,)`` mean weight / architecture loss of the epoch (NaN when absent).
        genotypes: per row the cells the search would derive at that point (None for init).
        search_seconds: wall time of the finished search, None while it runs.
    """

    ops: list[str]
    parts: list[str]
    edges: list[tuple[int, int]]
    epochs: np.ndarray
    phases: list[str]
    alpha: np.ndarray
    beta: np.ndarray | None
    w_loss: np.ndarray
    a_loss: np.ndarray
    genotypes: list[dict[str, Any] | None] = field(default_factory=list)
    search_seconds: float | None = None
    partial_channels: int = 1
    edge_norm: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "alpha history") -> "SearchHistory":
        for key in ("ops", "parts", "edges", "epochs"):
            if key not in data:
                raise ValueError(f"{where}: missing field {key!r}")
        rows = data["epochs"]
        if not rows:
            raise ValueError(f"{where}: field 'epochs' is empty")
        parts = list(data["parts"])
        try:
            alpha = np.array([[row["parts"][p]["alpha"] for p in parts] for row in rows], dtype=np.float64)
            betas = [[row["parts"][p].get("beta") for p in parts] for row in rows]
        except KeyError as e:
            raise ValueError(f"{where}: an epoch record lacks {e}") from None
        beta = None if any(b is None for r in betas for b in r) else np.array(betas, dtype=np.float64)

        def losses(key: str) -> np.ndarray:
            return np.array([np.nan if row.get(key) is None else float(row[key]) for row in rows])

        return cls(
            ops=list(data["ops"]), parts=parts, edges=[tuple(e) for e in data["edges"]],
            epochs=np.array([int(row["epoch"]) for row in rows]), phases=[str(row.get("phase", "")) for row in rows],
            alpha=alpha, beta=beta, w_loss=losses("w_loss"), a_loss=losses("a_loss"),
            genotypes=[row.get("genotype") for row in rows], search_seconds=data.get("search_seconds"),
            partial_channels=int(data.get("partial_channels", 1)), edge_norm=bool(data.get("edge_norm", False)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "SearchHistory":
        """Read a history file, or the one inside a run directory."""
        path = Path(path)
        if path.is_dir():
            path = path / "search" / "alpha_history.json"
        data = read_json(path, "search history", " (has the search run?)")
        return cls.from_json(data, where=str(path))

    @property
    def finished(self) -> bool:
        return self.search_seconds is not None

    @property
    def edge_labels(self) -> list[str]:
        """``"0→2"`` style names of the edges, in alpha order."""
        return [f"{s}→{t}" for s, t in self.edges]

    def part_index(self, part: str) -> int:
        if part not in self.parts:
            raise ValueError(f"unknown part {part!r}; this search has parts {self.parts}")
        return self.parts.index(part)

    def warmup_epochs(self) -> list[int]:
        return [int(e) for e, ph in zip(self.epochs, self.phases) if ph == "warmup"]

    def cells_at(self, row: int = -1) -> dict[str, CellGenotype] | None:
        """The cells the search would derive at history row ``row`` (None before epoch 1)."""
        raw = self.genotypes[row]
        if raw is None:
            return None
        data = {"grouping": {p: [] for p in self.parts}, "ops": self.ops, "parts": raw}
        # the grouping is not stored in the history and is not needed to parse cells
        return Genotype.from_json(data, where="alpha history genotype").cells


def entropy(p: np.ndarray, axis: int = -1, normalise: bool = False) -> np.ndarray:
    """Shannon entropy (nats) of probability vectors along ``axis``; ``0 log 0 = 0``.

    With ``normalise`` the result is divided by ``log n`` (``n`` = size of ``axis``), so a
    uniform distribution scores 1 and a one-hot one 0, whatever the number of ops.
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    h = terms.sum(axis=axis)
    if normalise:
        n = p.shape[axis]
        h = h / math.log(n) if n > 1 else np.zeros_like(h)
    return h


def alpha_entropy(history: SearchHistory, normalise: bool = True) -> np.ndarray:
    """``(E, P)``: entropy of each edge's op mixture, averaged over the 9 edges of a part."""
    return entropy(history.alpha, axis=-1, normalise=normalise).mean(axis=-1)


def op_share(history: SearchHistory) -> np.ndarray:
    """``(E, P, O)``: the mean weight of each op over a part's edges (sums to 1 over ops)."""
    return history.alpha.mean(axis=2)


def parameter_free_share(history: SearchHistory) -> np.ndarray:
    """``(E, P)``: the total alpha weight on parameter-free ops (skip, pooling, none),
    averaged over edges.  Rising towards 1 is the DARTS skip-connection collapse."""
    cols = [i for i, op in enumerate(history.ops) if op in PARAMETER_FREE_OPS]
    return history.alpha[..., cols].sum(-1).mean(-1)


def edge_scores(history: SearchHistory, row: int = -1) -> np.ndarray:
    """``(P, 9)``: the derive score of each edge, ``max_{op != none} alpha * beta`` (see
    :func:`partnas_lib.nas.genotype.derive_cell`); without beta, just the strongest op."""
    cols = [i for i, op in enumerate(history.ops) if op != "none"]
    best = history.alpha[row][..., cols].max(-1)
    return best * history.beta[row] if history.beta is not None else best


# --------------------------------------------------------------------------------------------
# derived cells


def cell_op_counts(cell: CellGenotype) -> Counter:
    """How often each op appears among the kept edges of a cell."""
    return Counter(op for op, _, _ in cell.edges)


def parameter_free_fraction(cell: CellGenotype) -> float:
    """Fraction of a cell's kept edges that carry no weights (skip or pooling)."""
    edges = cell.edges
    return sum(op in PARAMETER_FREE_OPS for op, _, _ in edges) / max(1, len(edges))


def cell_conv_depth(cell: CellGenotype) -> int:
    """The largest number of weighted ops (convolutions) on any path from an input node to
    an intermediate node: how deep the cell can compute, as opposed to how wide it is."""
    depth = [0] * NUM_INPUTS
    for node in cell.nodes:
        depth.append(max(depth[src] + (op not in PARAMETER_FREE_OPS) for op, src in node))
    return max(depth[NUM_INPUTS:])


# --------------------------------------------------------------------------------------------
# receptive fields


def trunk_receptive_fields(depth: int, last_stage: str = "layer3") -> list[tuple[int, int]]:
    """``(receptive field px, stride)`` of each feature map the trunk returns: the stem, then
    every kept stage (the order of :attr:`ResNetTrunk.strides`).

    Walks the main path of the ResNet: the 7x7/2 stem conv, the 3x3/2 max-pool, then per
    block its 3x3 convs (1x1 convs and the shortcut do not widen the field).  The usual
    recurrence: ``rf += (k - 1) * jump; jump *= stride``.  ResNet-18 gives 11, 43, 99, 211, 435.
    """
    from partnas_lib.models.backbone import DEPTHS, STAGES

    if depth not in DEPTHS:
        raise ValueError(f"ResNet depth {depth} is not supported; expected one of {sorted(DEPTHS)}")
    if last_stage not in STAGES:
        raise ValueError(f"unknown trunk stage {last_stage!r}; expected one of {STAGES}")
    kind, blocks = DEPTHS[depth]
    rf, jump = 1, 1
    for k, s in ((7, 2), (3, 2)):  # stem conv, max-pool
        rf, jump = rf + (k - 1) * jump, jump * s
    out = [(rf, jump)]
    convs_3x3 = 2 if kind == "basic" else 1
    for i in range(STAGES.index(last_stage) + 1):
        for b in range(blocks[i]):
            stride = 2 if (i > 0 and b == 0) else 1
            # BasicBlock: 3x3/s then 3x3/1; Bottleneck: 1x1, 3x3/s, 1x1 (stride on the 3x3)
            for c in range(convs_3x3):
                s = stride if c == 0 else 1
                rf, jump = rf + 2 * jump, jump * s
        out.append((rf, jump))
    return out


def _op_growth(op: str, growth: Mapping[str, int]) -> int:
    if op not in growth:
        raise ValueError(f"no receptive-field growth known for op {op!r}; pass growth={{{op!r}: pixels, ...}}")
    return growth[op]


def cell_receptive_field(cell: CellGenotype, inputs: Sequence[tuple[float, int]], stride: int,
                         growth: Mapping[str, int] = OP_RF_GROWTH) -> float:
    """Receptive field (input-image px) of a cell's output, the concat of its nodes.

    Args:
        cell: the derived cell.
        inputs: ``(rf, stride)`` of the two input states ``s0, s1``.
        stride: the cell's own output stride (its ops run at this resolution).
        growth: op -> pixels of growth at the op's resolution (:data:`OP_RF_GROWTH`).

    An input coarser than the cell is bilinearly up-sampled first, which reads 2 neighbouring
    input pixels per axis: ``rf + input_stride``.  Node ``j`` then reaches the widest of its
    incoming edges, ``max(rf[src] + growth(op) * stride)``; the output reaches the widest node.
    """
    rfs = [float(rf) + (s if s > stride else 0) for rf, s in inputs]
    for node in cell.nodes:
        rfs.append(max(rfs[src] + _op_growth(op, growth) * stride for op, src in node))
    return max(rfs[NUM_INPUTS:])


def head_receptive_field(cell: CellGenotype, trunk_fields: Sequence[tuple[int, int]], num_cells: int,
                         growth: Mapping[str, int] = OP_RF_GROWTH) -> float:
    """Receptive field (px) of a part head: ``num_cells`` copies of ``cell`` on the trunk's
    last two feature maps, each doubling the resolution (the layout of
    :class:`partnas_lib.models.partnet.FixedHead`)."""
    if len(trunk_fields) < 2:
        raise ValueError("a head reads the trunk's last two feature maps; got fewer than two")
    s0, s1 = trunk_fields[-2], trunk_fields[-1]
    stride = s1[1]
    for _ in range(num_cells):
        stride //= 2
        out = (cell_receptive_field(cell, [s0, s1], stride, growth), stride)
        s0, s1 = s1, out
    return s1[0]


def part_receptive_fields(genotype: Genotype, trunk_depth: int, trunk_stage: str, num_cells: int,
                          growth: Mapping[str, int] = OP_RF_GROWTH) -> dict[str, float]:
    """Per part, the receptive field (input px) of its derived head."""
    trunk = trunk_receptive_fields(trunk_depth, trunk_stage)
    return {name: head_receptive_field(cell, trunk, num_cells, growth) for name, cell in genotype.cells.items()}


# --------------------------------------------------------------------------------------------
# op costs and errors


def op_parameter_counts(ops: Iterable[str], channels: int, affine: bool = True) -> dict[str, int]:
    """Weights of each candidate op for ``channels`` in and out channels (derived-network form:
    ``affine=True`` BatchNorm).  Parameter-free ops cost 0."""
    from partnas_lib.nas.ops import build_op

    return {op: sum(p.numel() for p in build_op(op, channels, affine).parameters()) for op in ops}


def per_sample_errors(pred_mm: np.ndarray, gt_mm: np.ndarray) -> np.ndarray:
    """``(N,)`` root-aligned mean per-joint error of each sample (mm)."""
    from partnas_lib.eval.metrics import joint_errors

    return joint_errors(np.asarray(pred_mm, np.float64), np.asarray(gt_mm, np.float64)).mean(axis=1)


def reprojection_errors(arrays: Any) -> np.ndarray:
    """``(N, 17)`` pixel distance between the 2D joints and the 3D joints projected with the
    pinhole intrinsics (``u = fx X / Z + cx``): ~0 for undistorted cameras, a few px where a
    real lens's distortion was ignored."""
    j3 = np.asarray(arrays.joints_3d, np.float64)
    intr = np.asarray(arrays.intrinsics, np.float64)[:, None, :]
    uv = j3[..., :2] / j3[..., 2:3] * intr[..., 0:2] + intr[..., 2:4]
    return np.linalg.norm(uv - np.asarray(arrays.joints_2d, np.float64), axis=-1)


def left_right_asymmetry(joints_mm: np.ndarray) -> np.ndarray:
    """``(...,)`` largest length difference (mm) between a left bone and its right twin."""
    mirror = {a: b for a, b in FLIP_PAIRS} | {b: a for a, b in FLIP_PAIRS}
    lengths = bone_lengths(joints_mm)
    index = {bone: k for k, bone in enumerate(BONES)}
    diffs = []
    for (p, c), k in index.items():
        twin = (mirror.get(p, p), mirror.get(c, c))
        if twin != (p, c) and twin in index and index[twin] > k:
            diffs.append(np.abs(lengths[..., k] - lengths[..., index[twin]]))
    return np.max(np.stack(diffs, axis=-1), axis=-1)


def person_heights(joints_mm: np.ndarray) -> np.ndarray:
    """``(...,)`` skeleton height (mm): head top to the lower ankle along the body, i.e. the sum
    of the bones head-nose-thorax-spine-pelvis-hip-knee-ankle of the longer leg (pose-independent)."""
    lengths = bone_lengths(joints_mm)
    k = {bone: i for i, bone in enumerate(BONES)}
    spine = sum(lengths[..., k[b]] for b in ((0, 7), (7, 8), (8, 9), (9, 10)))
    right = sum(lengths[..., k[b]] for b in ((0, 1), (1, 2), (2, 3)))
    left = sum(lengths[..., k[b]] for b in ((0, 4), (4, 5), (5, 6)))
    return spine + np.maximum(right, left)


def min_pairwise_distance(points: np.ndarray) -> float:
    """Smallest distance between any two of ``(K, D)`` points (inf for fewer than two)."""
    p = np.asarray(points, np.float64)
    if len(p) < 2:
        return float("inf")
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    return float(d[np.triu_indices(len(p), 1)].min())


def absolute_errors(pred_mm: np.ndarray, gt_mm: np.ndarray) -> np.ndarray:
    """``(N,)`` mean per-joint error *without* root alignment (mm): what multi-person
    "absolute" metrics see, where a wrong root depth moves the whole skeleton."""
    d = np.asarray(pred_mm, np.float64) - np.asarray(gt_mm, np.float64)
    return np.linalg.norm(d, axis=-1).mean(axis=-1)


def is_limb(part: str) -> bool:
    """Parts named after limbs (``*arm*``, ``*leg*``, ``*limb*``) versus the torso/head."""
    return any(k in part for k in ("arm", "leg", "limb"))


def split_limbs(values: Mapping[str, float]) -> dict[str, float]:
    """Mean of a per-part quantity over limb parts and over the other parts (torso, head):
    the comparison the paper's premise is about (limbs have more freedom than the torso)."""
    limbs = [float(v) for k, v in values.items() if is_limb(k)]
    rest = [float(v) for k, v in values.items() if not is_limb(k)]
    return {"limbs": float(np.mean(limbs)) if limbs else float("nan"),
            "torso": float(np.mean(rest)) if rest else float("nan")}


__all__ = [
    "OP_RF_GROWTH", "PARAMETER_FREE_OPS", "SearchHistory", "absolute_errors", "alpha_entropy", 
    "cell_conv_depth", "cell_op_counts", "cell_receptive_field", "edge_scores", "entropy",
    "head_receptive_field", "is_limb", "left_right_asymmetry",
    "min_pairwise_distance", "op_parameter_counts", "op_share", "parameter_free_fraction", "parameter_free_share",
    "part_receptive_fields", "per_sample_errors", "person_heights", "reprojection_errors", "split_limbs",
    "to_jsonable", "trunk_receptive_fields",
]
