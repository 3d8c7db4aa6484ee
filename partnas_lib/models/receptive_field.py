r"""Receptive fields: how much of the input image each part's derived head can see.

The theoretical receptive field of a feature grows through a chain of layers by the recurrence

.. math::  r_{l} = r_{l-1} + (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1} s_l,

with kernel size :math:`k_l`, stride :math:`s_l` and jump :math:`j` (the distance in input pixels
between neighbouring features).  Parts whose searched cells chain large kernels see more
context; parts built from skip connections see no more than the trunk does.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from partnas_lib.models.backbone import DEPTHS, STAGES
from partnas_lib.nas.genotype import NUM_INPUTS, CellGenotype, Genotype

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


def trunk_receptive_fields(depth: int, last_stage: str = "layer3") -> list[tuple[int, int]]:
    """``(receptive field px, stride)`` of each feature map the trunk returns: the stem, then
    every kept stage (the order of :attr:`ResNetTrunk.strides`).

    Walks the main path of the ResNet: the 7x7/2 stem conv, the 3x3/2 max-pool, then per
    block its 3x3 convs (1x1 convs and the shortcut do not widen the field).  The usual
    recurrence: ``rf += (k - 1) * jump; jump *= stride``.  ResNet-18 gives 11, 43, 99, 211, 435.
    """
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
