"""The planner's alphabet: units <-> codes around the start symbol, and plans drawn with it."""

import numpy as np
import pytest
import torch

from wavegen.audio import silence_code
from wavegen.units.codes import codes_to_units, fill_starts, start_code, units_to_codes


@pytest.mark.parametrize("k", [64, 65, 256, 1024])
def test_units_and_codes_are_a_bijection_around_the_start_symbol(k):
    start = start_code(k)
    assert start == silence_code(k + 1)  # the engines' first input of every stream
    units = torch.arange(k)
    codes = units_to_codes(units, k)
    assert codes.unique().numel() == k and int(codes.max()) == k and start not in codes
    assert torch.equal(codes_to_units(codes, k), units)
    assert codes_to_units(torch.tensor([start]), k).tolist() == [-1]
    assert torch.equal(units_to_codes(np.arange(k), k), codes)  # numpy in, the same


@pytest.mark.parametrize("row,filled", [
    ([3, -1, -1, 5], [3, 3, 3, 5]),
    ([-1, -1, 7, -1], [7, 7, 7, 7]),
    ([-1, -1], [0, 0]),
    ([1, 2, 3], [1, 2, 3]),
    ([-1], [0]),
])
def test_a_start_drawn_in_a_plan_holds_a_neighbouring_unit(row, filled):
    got = fill_starts(torch.tensor([row, row]))
    assert got.tolist() == [filled, filled]
