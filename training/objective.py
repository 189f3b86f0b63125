"""The AdaIN training objective (Huang & Belongie 2017, eq. 11-13), shared by train and evaluate.

    L = L_c + lambda * L_s
    L_c = || f(g(t)) - t ||^2                      content loss at relu4_1 against the AdaIN target t
    L_s = sum_l || mu(phi_l(g(t))) - mu(phi_l(s)) ||^2 + || sigma(phi_l(g(t))) - sigma(phi_l(s)) ||^2
          over relu1_1, relu2_1, relu3_1, relu4_1 of the (normalised) encoder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from vidstyle.model import TAPS, Decoder, Encoder
from vidstyle.stats import adain, channel_stats

STYLE_WEIGHT = 10.0


@dataclass
class Losses:
    content: torch.Tensor
    style: torch.Tensor
    output: torch.Tensor

    def total(self, style_weight: float = STYLE_WEIGHT) -> torch.Tensor:
        return self.content + style_weight * self.style


def style_loss(feats: Sequence[torch.Tensor], targets: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """L_s of features at the TAPS against the style's ``(mean, std)`` at the same taps."""
    loss = torch.zeros((), device=feats[0].device)
    for g, (s_mean, s_std) in zip(feats, targets):
        g_mean, g_std = channel_stats(g)
        loss = loss + F.mse_loss(g_mean, s_mean) + F.mse_loss(g_std, s_std)
    return loss


def adain_losses(encoder: Encoder, decoder: Decoder, content: torch.Tensor, style: torch.Tensor) -> Losses:
    """Content and style losses of decoding AdaIN(content, style).

    Shape:
        content, style ``(B, 3, H, W)`` RGB in [0, 1]; ``output`` is ``(B, 3, H, W)``.
    """
    with torch.no_grad():
        c_feat = encoder(content, ("relu4_1",))[0]
        s_feats = encoder(style, TAPS)
        s_stats = [channel_stats(f) for f in s_feats]
        target = adain(c_feat.float(), *s_stats[-1])
    out = decoder(target.to(c_feat.dtype))
    g_feats = encoder(out, TAPS)
    loss_c = F.mse_loss(g_feats[-1].float(), target)
    return Losses(loss_c, style_loss(g_feats, s_stats), out)
