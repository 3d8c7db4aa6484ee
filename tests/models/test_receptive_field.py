"""Theoretical receptive fields of the trunk and of derived cells, by hand."""

from __future__ import annotations

import pytest
from toy_data import MIXED, SKIPS, cell_of

from partnas_lib.config import DEFAULT_OPS
from partnas_lib.models import receptive_field
from partnas_lib.nas.genotype import Genotype


def test_trunk_receptive_fields_match_the_known_resnet_values():
    assert receptive_field.trunk_receptive_fields(18, "layer4") == [(11, 4), (43, 4), (99, 8), (211, 16), (435, 32)]
    assert receptive_field.trunk_receptive_fields(50, "layer3")[-1] == (267, 16)


def test_cell_receptive_field_by_hand():
    # cell 1 at stride 8: in0 = layer2 (99 px, stride 8), in1 = layer3 (211 px, stride 16) -> 211 + 16
    # node2 = max(99 + 0, 227 + 4*8) = 259; node3 = max(259 + 8*8, 99 + 2*8) = 323;
    # node4 = max(323 + 4*8, 227 + 0) = 355
    assert receptive_field.cell_receptive_field(MIXED, [(99, 8), (211, 16)], stride=8) == 355
    # cell 2 at stride 4: in0 = layer3 (211 + 16 = 227), in1 = cell 1 (355 + 8 = 363)
    # node2 = max(227, 363 + 16) = 379; node3 = max(379 + 32, 227 + 8) = 411; node4 = max(411 + 16, 363) = 427
    trunk = receptive_field.trunk_receptive_fields(18, "layer3")
    assert receptive_field.head_receptive_field(MIXED, trunk, num_cells=2) == 427
    # skip connections add nothing but the up-sampling: 227 after cell 1, max(227, 227 + 8) after cell 2
    assert receptive_field.head_receptive_field(SKIPS, trunk, num_cells=2) == 235
    genotype = Genotype({"torso": SKIPS, "arm": MIXED}, {"torso": [0], "arm": list(range(1, 17))}, list(DEFAULT_OPS))
    assert receptive_field.part_receptive_fields(genotype, 18, "layer3", 2) == {"torso": 235, "arm": 427}
    with pytest.raises(ValueError, match="no receptive-field growth known for op 'conv_7x7'"):
        receptive_field.cell_receptive_field(cell_of([[("conv_7x7", 0)], [("skip_connect", 0)], [("skip_connect", 0)]]),
                                      [(1, 1), (1, 1)], 1)
