"""The AdaIN training objective (Huang & Belongie 2017, eq. 11-13), shared by train and evaluate.

    L = L_c + lambda * L_s  [+ w_px * L_px + w_tv * L_tv]
    L_c = || f(g(t)) - t ||^2                      content loss at relu4_1 against the AdaIN target t
    L_s = sum_l || mu(phi_l(g(t))) - mu(phi_l(s)) ||^2 + || sigma(phi_l(g(t))) - sigma(phi_l(s)) ||^2
          over relu1_1, relu2_1, relu3_1, relu4_1 of the (normalised) encoder.
    L_px = || g(t) - c ||^2                        pixels, on the reconstruction samples only (style = content:
                                                   t = f(c), the alpha-0 case)
    L_tv = mean squared difference of neighbouring output pixels (total variation)
    L_sh = || g(t') - shift_d(g(t)) ||^2           shift equivariance (shift_loss): t' is the AdaIN target of the
                                                   same content moved by d, a fraction of the 8-px grid
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from vidstyle.model import TAPS, Decoder, Encoder
from vidstyle.stats import EPS, adain

STYLE_WEIGHT = 10.0


class _ChannelStats(torch.autograd.Function):
    """Per-channel mean and std as two matrix products and a closed-form backward.

    The same numbers as ``vidstyle.stats.channel_stats`` (float32 rounding apart:
    one pass, E[x^2] - E[x]^2, fine for ReLU features of order 1), about three
    times faster forward and backward on a CPU: ``var`` is a slow scalar
    reduction there, above all on channels_last bfloat16 maps.
    """

    @staticmethod
    def forward(ctx, feat: torch.Tensor, eps: float):
        b, c, h, w = feat.shape
        # Sums in float32 whatever autocast says: bf16 sums would lose the variance.
        with torch.autocast(feat.device.type, enabled=False):
            x = feat.float()
            rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view for channels_last, a copy otherwise
            avg = torch.full((b, 1, h * w), 1.0 / (h * w), device=feat.device)
            mean = torch.bmm(avg, rows)
            var = (torch.bmm(avg, rows * rows) - mean * mean).clamp_min(0)
            std = (var + eps).sqrt()
        mean, std = mean.reshape(b, c, 1, 1), std.reshape(b, c, 1, 1)
        ctx.save_for_backward(feat, mean, std)
        return mean, std

    @staticmethod
    def backward(ctx, g_mean: torch.Tensor, g_std: torch.Tensor):
        feat, mean, std = ctx.saved_tensors
        n = feat.shape[-2] * feat.shape[-1]
        # d mean / dx = 1/n; d std / dx = (x - mean) / (n std): one fused pass over x.
        scale = g_std / (n * std)
        shift = g_mean / n - scale * mean
        return torch.addcmul(shift, feat, scale).to(feat.dtype), None


def channel_stats(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """``vidstyle.stats.channel_stats``, faster: ``(B, C, H, W)`` -> float32 mean and std ``(B, C, 1, 1)``."""
    return _ChannelStats.apply(feat, eps)


@dataclass
class Losses:
    content: torch.Tensor
    style: torch.Tensor
    output: torch.Tensor
    pixel: torch.Tensor | None = None
    tv: torch.Tensor | None = None
    shift: torch.Tensor | None = None  # set by the trainer when it adds the shift loss

    def total(self, style_weight: float = STYLE_WEIGHT, pixel_weight: float = 0.0, tv_weight: float = 0.0) -> torch.Tensor:
        loss = self.content + style_weight * self.style
        if pixel_weight and self.pixel is not None:
            loss = loss + pixel_weight * self.pixel
        if tv_weight and self.tv is not None:
            loss = loss + tv_weight * self.tv
        return loss


def style_loss(feats: Sequence[torch.Tensor], targets: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """L_s of features at the TAPS against the style's ``(mean, std)`` at the same taps."""
    loss = torch.zeros((), device=feats[0].device)
    for g, (s_mean, s_std) in zip(feats, targets):
        g_mean, g_std = channel_stats(g)
        loss = loss + F.mse_loss(g_mean, s_mean) + F.mse_loss(g_std, s_std)
    return loss


def shift_loss(out: torch.Tensor, twins: torch.Tensor, shifts: Sequence[tuple[int, int]], margin: int) -> torch.Tensor:
    """How far the outputs of moved content are from the outputs moved: mean squared difference.

    The encoder's three poolings and the decoder's three upsamplings make the
    network equivariant to whole 8-px moves only: content moved by a fraction
    of that is drawn with other strokes, which is what makes a moving camera's
    video flicker (benchmarks/bench_phase.py). ``twins[i]`` is the output for
    ``out[i]``'s content moved by ``shifts[i] = (dx, dy)`` pixels (twin
    content at ``p`` is the content at ``p + d``), so ``twins[i](p)`` should
    be ``out[i](p + d)``. Both sides are compared over the overlap less
    ``margin`` pixels on every side: near its edges the picture is padded
    differently and may differ.

    Shape:
        out, twins ``(K, 3, H, W)``; ``shifts`` K pairs of ints in [0, 8) -> a scalar.
    """
    reach = max(max(d) for d in shifts)
    h, w = out.shape[-2] - reach - 2 * margin, out.shape[-1] - reach - 2 * margin
    if h <= 0 or w <= 0:
        raise ValueError(f"crops of {tuple(out.shape[-2:])} are too small for shifts up to {reach} and a margin of {margin}")
    moved = torch.stack([out[i, :, margin + dy : margin + dy + h, margin + dx : margin + dx + w]
                         for i, (dx, dy) in enumerate(shifts)])
    return F.mse_loss(twins[:, :, margin : margin + h, margin : margin + w].float(), moved.float())


def total_variation(img: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of vertically and horizontally neighbouring pixels of ``(B, 3, H, W)``."""
    x = img.float()
    return (x[..., 1:, :] - x[..., :-1, :]).square().mean() + (x[..., :, 1:] - x[..., :, :-1]).square().mean()


def adain_losses(encoder: Encoder, decoder: Decoder, content: torch.Tensor, style: torch.Tensor,
                 recon: int = 0, tv: bool = False) -> Losses:
    """Content and style losses of decoding AdaIN(content, style).

    The first ``recon`` pairs are reconstruction samples: their style is their
    own content (``style[:recon]`` is ignored), so the target is the content's
    own features and ``pixel`` compares those outputs with the content images.
    ``tv``: also the output's total variation.

    Shape:
        content, style ``(B, 3, H, W)`` RGB in [0, 1]; ``output`` is ``(B, 3, H, W)``.
    """
    with torch.no_grad():
        # One encoder pass for the content and the styles that are not the content.
        feats = encoder(torch.cat([content, style[recon:]]), TAPS)
        b = content.shape[0]
        c_feat = feats[-1][:b]
        s_stats = [channel_stats(torch.cat([f[:recon], f[b:]]) if recon else f[b:]) for f in feats]
        target = adain(c_feat.float(), *s_stats[-1])
        if recon:
            target[:recon] = c_feat[:recon].float()  # adain(c, stats of c) is c, up to eps
    out = decoder(target.to(c_feat.dtype))
    g_feats = encoder(out, TAPS)
    loss_c = F.mse_loss(g_feats[-1].float(), target)
    pixel = F.mse_loss(out[:recon].float(), content[:recon].float()) if recon else None
    return Losses(loss_c, style_loss(g_feats, s_stats), out, pixel, total_variation(out) if tv else None)
