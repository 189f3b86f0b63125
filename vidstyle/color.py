"""Colour preservation: histogram matching of chroma in CIE L*a*b* (kornia).

Why L*a*b*: it separates lightness from colour and is roughly perceptually
uniform, so matching the a*/b* histograms to the content moves the colours to
the content's palette while the L* channel — where the brush strokes and the
style's tonal texture live — is left to the style. Matching in RGB would also
pull the style's contrast back to the content's; matching only the mean and
std (Gatys et al.'s linear transfer) leaves skewed palettes visibly off.

Two places to apply it (``mode``):
- ``"output"`` (default): match the stylized result's a*/b* to the content
  frame's. It holds whatever the decoder does, costs one sort per channel.
- ``"style"``: match the style image's a*/b* to the content before its
  statistics are taken (Gatys et al.'s "colour histogram matching"). Cheaper
  per frame, but colour leaks back through the decoder.

Two ways to match in ``"output"`` mode (``method``):
- ``"histogram"``: :func:`preserve_colors`, the a*/b* histograms of each
  result matched to its own content frame (exact quantile mapping). Right
  for a still image; on video it flickers: the mapping's slope is the ratio of
  the two chroma densities, so where it stretches a narrow result histogram
  over a wide content one, the frame-to-frame noise of the stylized chroma is
  amplified, and each pixel's colour depends on its rank among all the others.
- ``"luminance"`` (video default): :func:`transfer_luminance`, L* of the
  result with a*/b* of the content frame, pixel by pixel (Gatys et al. 2016,
  "Preserving color in neural artistic style transfer", luminance-only
  transfer, done in L*a*b*). It is a pure per-pixel function of the two
  frames, Lipschitz in each (a small change in a frame moves the output by as
  much, never more): a static shot keeps colours as steady as its input, and
  frame ``i`` gets the same pixels whichever chunk renders it, because there is
  no state from other frames to carry. The price: the style's own colour
  texture goes (its strokes survive in lightness only).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

# The names are read without kornia (settings and looks check them); kornia is
# imported by the functions that convert colours.
MODES = ("output", "style")
METHODS = ("luminance", "histogram")


def match_histograms(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Exact histogram matching per image and channel (quantile mapping).

    Each source value is replaced by the reference value of the same rank, so
    the result has the reference's distribution and the source's ordering.

    Shape:
        source ``(B, C, H, W)``, reference ``(B or 1, C, H', W')`` -> ``(B, C, H, W)``.
    """
    b, c = source.shape[:2]
    src = source.reshape(b, c, -1)
    ref = reference.reshape(reference.shape[0], c, -1).expand(b, -1, -1)
    order = src.argsort(dim=-1)
    ref_sorted = ref.sort(dim=-1).values
    n = src.shape[-1]
    if ref_sorted.shape[-1] != n:
        ref_sorted = F.interpolate(ref_sorted.reshape(b * c, 1, -1), size=n, mode="linear", align_corners=True)
        ref_sorted = ref_sorted.reshape(b, c, n)
    out = torch.empty_like(src).scatter_(-1, order, ref_sorted.to(src.dtype))
    return out.reshape(source.shape)


def preserve_colors(image: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Give ``image`` the content's colours (a*/b* histograms), keeping its lightness.

    Shape:
        image ``(B, 3, H, W)``, content ``(B or 1, 3, H', W')`` RGB in [0, 1] -> ``(B, 3, H, W)``.
    """
    import kornia

    lab = kornia.color.rgb_to_lab(image.float().clamp(0, 1))
    ref = kornia.color.rgb_to_lab(content.float().clamp(0, 1))
    ab = match_histograms(lab[:, 1:], ref[:, 1:])
    out = kornia.color.lab_to_rgb(torch.cat([lab[:, :1], ab], dim=1), clip=True)
    return out.to(image.dtype)


def transfer_luminance(image: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep ``image``'s lightness (L*) and take the content's colour (a*/b*), pixel by pixel.

    A pure per-pixel function of the two frames, so it adds no flicker of its
    own and needs no state from other frames (see the module notes).

    Shape:
        image ``(B, 3, H, W)``, content ``(B or 1, 3, H', W')`` RGB in [0, 1] -> ``(B, 3, H, W)``.
    """
    import kornia

    lab = kornia.color.rgb_to_lab(image.float().clamp(0, 1))
    ref = content.float().clamp(0, 1)
    if ref.shape[-2:] != image.shape[-2:]:
        ref = F.interpolate(ref, size=image.shape[-2:], mode="bilinear", align_corners=False)
    ab = kornia.color.rgb_to_lab(ref)[:, 1:].expand(lab.shape[0], -1, -1, -1)
    out = kornia.color.lab_to_rgb(torch.cat([lab[:, :1], ab], dim=1), clip=True)
    return out.to(image.dtype)


def preserve(image: torch.Tensor, content: torch.Tensor, method: str = "histogram") -> torch.Tensor:
    """Colour preservation by ``method``: ``"histogram"`` (:func:`preserve_colors`) or ``"luminance"``."""
    if method == "histogram":
        return preserve_colors(image, content)
    if method == "luminance":
        return transfer_luminance(image, content)
    raise ValueError(f"unknown colour method {method!r}: use one of {', '.join(METHODS)}")
