"""AdaIN maths: channel statistics, the transfer itself, mixing and spatial control.

Pure functions on feature tensors ``(B, C, H, W)``; kept as small as the maths.
Style statistics are plain values (:class:`StyleStats`): computed once per style
image, saved to ``.style`` files, mixed and interpolated without the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch.nn import functional as F

# eps keeps the std finite for flat regions (a constant channel has zero variance).
EPS = 1e-5


def channel_stats(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over the spatial positions.

    Shape:
        ``(B, C, H, W)`` -> two ``(B, C, 1, 1)`` tensors.
    """
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1).float()
    mean = flat.mean(dim=2, keepdim=True)
    # Two passes (mean, then the mean square about it) rather than Tensor.var: as exact, and on the CPU
    # about 6x faster than var's Welford loop (the temporal stage takes these for every frame).
    var = (flat - mean).square().mean(dim=2)
    return mean.reshape(b, c, 1, 1), (var + eps).sqrt().reshape(b, c, 1, 1)


def masked_stats(feat: torch.Tensor, mask: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std weighted by a soft mask.

    Shape:
        feat ``(B, C, H, W)``, mask ``(B, 1, H, W)`` in [0, 1] -> two ``(B, C, 1, 1)``.
    """
    w = mask.float()
    total = w.sum(dim=(2, 3), keepdim=True).clamp_min(eps)
    x = feat.float()
    mean = (x * w).sum(dim=(2, 3), keepdim=True) / total
    var = ((x - mean) ** 2 * w).sum(dim=(2, 3), keepdim=True) / total
    return mean, (var + eps).sqrt()


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor, eps: float = EPS, *,
          content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Adaptive instance normalisation: give each content channel the style's mean and std.

    ``content_stats`` replaces the content's own channel mean and std (the
    temporal stage's steady statistics, ``(B or 1, C, 1, 1)`` each).

    Shape:
        content ``(B, C, H, W)``; style_mean, style_std ``(B or 1, C, 1, 1)`` -> ``(B, C, H, W)``.
    """
    mean, std = channel_stats(content, eps) if content_stats is None else content_stats
    return ((content.float() - mean) / std * style_std + style_mean).to(content.dtype)


def with_alpha(target: torch.Tensor, content: torch.Tensor, alpha: float) -> torch.Tensor:
    """The content/style trade-off: ``alpha * target + (1 - alpha) * content`` on features."""
    return target if alpha == 1.0 else alpha * target + (1.0 - alpha) * content


@dataclass(frozen=True)
class StyleStats:
    """Channel mean and std of a style's relu4_1 features: all the model needs of a style.

    ``mean`` and ``std`` are ``(C,)`` float32 tensors on the CPU. ``encoder`` is the
    id of the encoder that produced them (statistics from another encoder are meaningless).
    """

    mean: torch.Tensor
    std: torch.Tensor
    encoder: str
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape or self.mean.dim() != 1:
            raise ValueError(f"mean and std must both be (C,), got {tuple(self.mean.shape)} and {tuple(self.std.shape)}")

    def as_tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(1, C, 1, 1)`` mean and std on ``device``, ready for :func:`adain`."""
        return (self.mean.reshape(1, -1, 1, 1).to(device), self.std.reshape(1, -1, 1, 1).to(device))

    def to_bytes(self) -> bytes:
        """The ``.style`` file's content (safetensors: the two tensors and where they came from)."""
        from safetensors.torch import save

        meta = {**self.meta, "format": "vidstyle.style/1", "encoder": self.encoder, "source": self.source}
        return save({"mean": self.mean.contiguous(), "std": self.std.contiguous()}, metadata=meta)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> "StyleStats":
        """Read a ``.style`` file. Raises ValueError if it is not one."""
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
            if meta.get("format") != "vidstyle.style/1":
                raise ValueError("not a vidstyle .style file")
            mean, std = f.get_tensor("mean"), f.get_tensor("std")
        return cls(mean.float(), std.float(), meta.pop("encoder", ""), meta.pop("source", ""), meta)


def mix(styles: Sequence[StyleStats], weights: Sequence[float]) -> StyleStats:
    """Interpolate N styles with weights summing to 1.

    AdaIN is affine in (mean, std), so mixing the statistics is exactly the paper's
    weighted sum of the N AdaIN outputs, at the cost of one transfer instead of N.
    """
    if len(styles) != len(weights) or not styles:
        raise ValueError(f"{len(styles)} styles but {len(weights)} weights")
    if len({s.encoder for s in styles}) != 1:
        raise ValueError("styles come from different encoders")
    if len(styles) == 1:
        return styles[0]
    mean = sum(w * s.mean for s, w in zip(styles, weights))
    std = sum(w * s.std for s, w in zip(styles, weights))
    src = " + ".join(f"{w:g}*{s.source}" for s, w in zip(styles, weights))
    return StyleStats(mean, std, styles[0].encoder, src)


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize soft masks to a feature map's size, area-averaged so edges stay soft.

    Shape:
        ``(B, K, H, W)`` -> ``(B, K, h, w)``.
    """
    if masks.shape[-2:] == size:
        return masks.float()
    return F.interpolate(masks.float(), size=size, mode="area" if masks.shape[-1] >= size[1] else "bilinear")


def normalise_masks(masks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Make K soft masks a partition of unity per pixel (where all are zero, share equally).

    Shape:
        ``(B, K, H, W)`` -> ``(B, K, H, W)``.
    """
    total = masks.sum(dim=1, keepdim=True)
    k = masks.shape[1]
    return torch.where(total > eps, masks / total.clamp_min(eps), torch.full_like(masks, 1.0 / k))


def complete_masks(masks: torch.Tensor, regions: int) -> torch.Tensor:
    """Add the last region when one mask fewer than regions is given: what the others leave.

    Shape:
        ``(B, K, H, W)`` -> ``(B, regions, H, W)`` (unchanged when ``K == regions``).
    """
    if masks.shape[1] == regions:
        return masks
    if masks.shape[1] != regions - 1:
        raise ValueError(f"{masks.shape[1]} masks for {regions} regions")
    rest = (1.0 - masks.sum(dim=1, keepdim=True)).clamp(0, 1)
    return torch.cat([masks, rest], dim=1)


def feather_masks(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """Soften mask edges with a Gaussian of ``sigma`` pixels (of the map the masks are at).

    The same linear blur on every mask keeps their per-pixel sum: a partition of
    unity stays one (edge pixels are replicated, so the border keeps it too).
    ``sigma <= 0`` returns the masks unchanged.

    Shape:
        ``(B, K, h, w)`` -> ``(B, K, h, w)``.
    """
    if sigma <= 0:
        return masks
    import kornia

    radius = max(1, math.ceil(2 * sigma))
    k = 2 * radius + 1
    return kornia.filters.gaussian_blur2d(masks.float(), (k, k), (sigma, sigma), border_type="replicate")


def spatial_adain(
    content: torch.Tensor,
    masks: torch.Tensor,
    means: torch.Tensor,
    stds: torch.Tensor,
    eps: float = EPS,
    feather: float = 0.0,
) -> torch.Tensor:
    """Different styles for different regions: region k gets style k's statistics.

    Each region's content statistics are taken inside that region (the paper's
    spatial control), and the transferred features are blended by the soft masks.
    ``feather`` (in feature pixels) blurs the masks at feature resolution first
    (:func:`feather_masks`), so that a hard edge becomes a short cross-fade of
    the features and no seam shows after decoding.

    Shape:
        content ``(B, C, h, w)``; masks ``(B, K, H, W)`` (resized here to ``(h, w)``);
        means, stds ``(K, C)`` -> ``(B, C, h, w)``.
    """
    m = normalise_masks(feather_masks(resize_masks(masks, tuple(content.shape[-2:])), feather))
    x = content.float()
    out = torch.zeros_like(x)
    for k in range(m.shape[1]):
        mk = m[:, k : k + 1]
        c_mean, c_std = masked_stats(x, mk, eps)
        region = (x - c_mean) / c_std * stds[k].reshape(1, -1, 1, 1) + means[k].reshape(1, -1, 1, 1)
        out = out + mk * region
    return out.to(content.dtype)
