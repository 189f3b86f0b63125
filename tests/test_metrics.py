"""The phase error (vidstyle.metrics): exact whole-pixel moves, zero for what is equivariant, not for a grid."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vidstyle.metrics import PHASE_SHIFTS, at_shift, moved, phase_error, shifted_difference


def _picture(h: int = 48, w: int = 64) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(1, 3, h, w)


@pytest.mark.parametrize("shift", [(2, 0), (-3, 1), (4, 4), (1, -3)])
def test_a_whole_pixel_move_is_a_copy_with_the_edges_reflected(shift) -> None:
    x = _picture()
    dx, dy = shift
    out = moved(x, shift)
    # Away from the edges it is the picture itself, read dx, dy further on.
    assert torch.equal(out[..., 8:-8, 8:-8], x[..., 8 + dy : 40 + dy, 8 + dx : 56 + dx])
    assert torch.equal(moved(out, (-dx, -dy))[..., 8:-8, 8:-8], x[..., 8:-8, 8:-8])
    with pytest.raises(ValueError, match="not smaller than the picture"):
        moved(x, (64, 0))


def test_an_equivariant_stylizer_has_no_phase_error() -> None:
    x = _picture()
    weight = torch.rand(3, 3, 3, 3) / 9

    def stride_one(t: torch.Tensor) -> torch.Tensor:  # a stride-1 convolution: equivariant away from the edges
        return torch.sigmoid(F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), weight))

    assert phase_error(stride_one, x) < 1e-7


def test_a_network_on_a_grid_has_a_phase_error_at_fractions_of_its_cell_only() -> None:
    x = _picture()

    def grid_of_two(t: torch.Tensor) -> torch.Tensor:  # a stride-2 pooling and a 2x upsampling: a grid of 2 px
        return F.interpolate(F.avg_pool2d(t, 2), scale_factor=2, mode="nearest")

    assert phase_error(grid_of_two, x, shifts=[(2, 0), (0, 2), (-2, 4)]) < 1e-7
    assert phase_error(grid_of_two, x, shifts=[(1, 0), (0, 1)]) > 0.05
    assert phase_error(grid_of_two, x) > 0.02  # PHASE_SHIFTS has odd ones


def test_the_phase_error_is_the_mean_difference_inside_the_margin() -> None:
    home = torch.zeros(1, 3, 64, 64)
    other = home.clone()
    other[..., :16, :] = 1.0  # only in the margin: not counted
    assert shifted_difference(home, [other]) == 0.0
    other[..., 16:48, 16:48] = 0.5  # all of the inside
    assert shifted_difference(home, [other, home]) == pytest.approx(0.25)
    # On a small picture the margin is at most a quarter of the shorter side.
    assert shifted_difference(torch.zeros(1, 1, 8, 8), [torch.ones(1, 1, 8, 8)], margin=16) == 1.0
    with pytest.raises(ValueError, match="at least one"):
        shifted_difference(home, [])
    assert len(PHASE_SHIFTS) == 10 and all(s != (0, 0) for s in PHASE_SHIFTS)
    assert torch.equal(at_shift(lambda t: t, home, (3, 2)), home)
