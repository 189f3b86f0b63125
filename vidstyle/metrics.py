"""Picture-quality numbers: PSNR, the structure score of a stylized picture against its content, the phase error.

Shared by the int8 quality gate (``tests/test_int8.py``), the benchmarks and
``training/evaluate.py``; plain functions of tensors.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from .model import Encoder
from .stats import channel_stats


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two pictures in [0, 1] (clamped first); inf when equal."""
    mse = float(F.mse_loss(a.float().clamp(0, 1), b.float().clamp(0, 1)))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def instance_normalised(feat: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` features with each channel shifted and scaled to mean 0, std 1."""
    mean, std = channel_stats(feat)
    return (feat.float() - mean) / std


@torch.no_grad()
def structure_score(encoder: Encoder, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of instance-normalised relu4_1 of ``output`` and ``content`` (0: same layout).

    Instance normalisation removes what AdaIN is meant to change (channel means
    and spreads), so what is left is layout: edges, objects, people. Lower
    keeps more of the scene.

    Shape:
        output, content ``(B, 3, H, W)`` in [0, 1] (``output`` is clamped) -> a scalar.
    """
    return F.mse_loss(instance_normalised(encoder.encode(output.clamp(0, 1))), instance_normalised(encoder.encode(content)))


# Whole-pixel shifts (x, y) at which the phase error stylizes a picture: both axes and the grid's half cell (4).
PHASE_SHIFTS = ((2, 0), (4, 0), (-2, 0), (0, 2), (0, 4), (2, 2), (4, 4), (-3, 1), (1, -3), (-1, -1))
# Pixels of every edge the phase error leaves out: more than the largest shift, and the decoder's border effects.
PHASE_MARGIN = 16


def moved(x: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """``x(p + shift)`` for a whole-pixel ``shift`` (x, y), edges reflected: exact, no resampling.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """
    dx, dy = int(shift[0]), int(shift[1])
    h, w = x.shape[-2:]
    if dx == 0 and dy == 0:
        return x
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"shift {shift} is not smaller than the picture ({w}x{h})")
    p = F.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)), mode="reflect")
    return p[..., abs(dy) + dy : abs(dy) + dy + h, abs(dx) + dx : abs(dx) + dx + w]


def at_shift(stylize: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """``stylize`` of ``x`` moved by a whole-pixel ``shift``, moved back: where ``stylize(x)`` would be.

    Shape:
        ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
    """
    return moved(stylize(moved(x, shift)), (-shift[0], -shift[1]))


@torch.no_grad()
def phase_error(stylize: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                shifts: Sequence[tuple[int, int]] = PHASE_SHIFTS, margin: int = PHASE_MARGIN) -> float:
    """How far a stylizer is from drawing the same strokes wherever the picture sits on its grid.

    A network with stride-2 poolings and 2x upsamplings is equivariant to
    shifts by whole cells of its grid only; at a fraction of a cell it draws
    other strokes, which is the flicker of a panning camera before any
    steadying (``benchmarks/bench_phase.py``; ``training/train.py
    --shift-weight`` trains against it). This is :func:`shifted_difference`
    of ``stylize(x)`` and its :func:`at_shift` results over ``shifts``:
    0 for an equivariant stylizer.

    Shape:
        x ``(B, 3, H, W)``; ``stylize`` maps it to ``(B, 3, H, W)`` -> a float.
    """
    return shifted_difference(stylize(x), [at_shift(stylize, x, s) for s in shifts], margin)


def shifted_difference(home: torch.Tensor, others: Sequence[torch.Tensor], margin: int = PHASE_MARGIN) -> float:
    """The mean over ``others`` of their mean absolute difference from ``home``, ``margin`` pixels of every edge left out.

    The margin (at most a quarter of the shorter side) leaves out what a
    shift pads differently every time.

    Shape:
        home and each of ``others`` ``(B, C, H, W)`` -> a float.
    """
    if not others:
        raise ValueError("the phase error needs at least one shifted result")
    h, w = home.shape[-2:]
    m = min(margin, min(h, w) // 4)
    inner = (..., slice(m, h - m), slice(m, w - m))
    return sum(float((o[inner] - home[inner]).abs().mean()) for o in others) / len(others)
