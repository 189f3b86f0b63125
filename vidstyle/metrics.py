"""Picture-quality numbers: PSNR, and the structure score of a stylized picture against its content.

Shared by the int8 quality gate (``tests/test_int8.py``), the benchmarks and
``training/evaluate.py``; plain functions of tensors.
"""
from __future__ import annotations

import math

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
