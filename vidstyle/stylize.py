"""The stylizer: encoder -> AdaIN with a :class:`Look` -> decoder, on a batch of frames.

Frames come in as float RGB ``(B, 3, H, W)`` in [0, 1] at any size and go out
the same way at the same size; the network works at a maximum side of ``size``.
A style reaches the model only as :class:`~vidstyle.stats.StyleStats`: every
style image is encoded once, when the look is built, never per frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from . import color
from .errors import InputError, SettingsError, WeightsError
from .imageio import read_image, resize, working_size
from .model import Decoder, Encoder, encoder_id, load_decoder, load_encoder
from .stats import StyleStats, adain, channel_stats, mix, spatial_adain, with_alpha

STYLE_SUFFIX = ".style"
# The paper trains and evaluates at 512 px; style statistics are taken at that size.
STYLE_SIZE = 512
DEFAULT_SIZE = 512


@dataclass(frozen=True)
class Look:
    """Everything the model applies to a frame, already resolved to statistics.

    ``styles`` are the statistics to apply (one per mask region when ``masks``
    is given, otherwise mixed into one); ``masks`` is ``(1, K, H, W)`` in [0, 1]
    or None; ``content_region`` says the last mask region keeps the content.
    """

    styles: tuple[StyleStats, ...]
    alpha: float = 1.0
    preserve_color: bool = False
    masks: torch.Tensor | None = None
    content_region: bool = False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda was asked for but no CUDA GPU is available: use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise SettingsError(f"unsupported device {device!r}: use auto, cpu or cuda")
    return dev


def check_weights(weights: Sequence[float] | None, n: int) -> tuple[float, ...]:
    """Validate style weights: one per style, each in [0, 1], summing to 1."""
    if weights is None:
        return (1.0 / n,) * n
    if len(weights) != n:
        raise SettingsError(f"{len(weights)} style weights given for {n} styles: give one weight per style")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise SettingsError(f"style weights must be non-negative numbers, got {', '.join(map(str, weights))}")
    if abs(sum(weights) - 1.0) > 1e-4:
        raise SettingsError(f"style weights {', '.join(f'{w:g}' for w in weights)} sum to {sum(weights):g}; they must sum to 1")
    return tuple(float(w) for w in weights)


def check_alpha(alpha: float) -> float:
    if not (0.0 <= alpha <= 1.0) or math.isnan(alpha):
        raise SettingsError(f"alpha must be between 0 and 1, got {alpha:g}")
    return float(alpha)


class Stylizer:
    """Loads the networks once and stylizes batches of frames.

    Args:
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        size: maximum side, in pixels, the network works at.
        decoder: False to load only the encoder (enough to compute style statistics).
    """

    def __init__(self, device: str | torch.device = "auto", size: int = DEFAULT_SIZE, *, decoder: bool = True) -> None:
        if size < 64:
            raise SettingsError(f"--size must be at least 64, got {size}")
        self.device = resolve_device(device)
        self.size = int(size)
        self.encoder: Encoder = load_encoder().to(self.device)
        self.decoder: Decoder | None = load_decoder().to(self.device) if decoder else None
        self.encoder_id = encoder_id()
        if self.device.type == "cuda":
            self.encoder.to(memory_format=torch.channels_last)
            if self.decoder is not None:
                self.decoder.to(memory_format=torch.channels_last)

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    @torch.no_grad()
    def style_stats(self, rgb: torch.Tensor, source: str = "") -> StyleStats:
        """The one place style statistics are computed: relu4_1 channel mean/std of an image.

        Shape:
            rgb ``(1, 3, H, W)`` in [0, 1]; taken at a maximum side of 512.
        """
        h, w = working_size(rgb.shape[-2], rgb.shape[-1], STYLE_SIZE)
        x = resize(rgb.to(self.device), (h, w))
        mean, std = channel_stats(self.encoder.encode(x).float())
        return StyleStats(mean.flatten().cpu(), std.flatten().cpu(), self.encoder_id, source)

    def load_style(self, path: str | Path, color_reference: torch.Tensor | None = None) -> StyleStats:
        """Statistics of a style image or a saved ``.style`` file.

        With ``color_reference`` (RGB ``(1, 3, H, W)``) the style image's colours
        are first matched to it (colour preservation, "style" mode).
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"style not found: {path}")
        if path.suffix == STYLE_SUFFIX:
            if color_reference is not None:
                raise SettingsError(f"{path} is a saved style: colour preservation in 'style' mode needs the image")
            try:
                stats = StyleStats.load(path)
            except Exception:
                raise InputError(f"{path} is not a valid .style file: recreate it with `vidstyle style`") from None
            if stats.encoder != self.encoder_id:
                raise InputError(f"{path} was made with another encoder ({stats.encoder}): recreate it with `vidstyle style`")
            return stats
        img = read_image(path).rgb
        if color_reference is not None:
            img = color.preserve_colors(img, color_reference)
        return self.style_stats(img, source=path.name)

    def look(
        self,
        styles: Sequence[str | Path | StyleStats],
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: bool | str = False,
        masks: Sequence[str | Path] | torch.Tensor | None = None,
        color_reference: torch.Tensor | None = None,
    ) -> Look:
        """Resolve user controls into a :class:`Look` (style images are encoded here, once).

        ``preserve_color``: False, True/"output" (match the result's colours to
        each frame) or "style" (match the style image to ``color_reference``).
        ``masks``: N masks for N styles, N-1 masks (the last style fills the
        rest), or one mask for one style (the rest keeps the content).
        """
        if not styles:
            raise SettingsError("give at least one style (--style)")
        alpha = check_alpha(alpha)
        mode = "output" if preserve_color is True else (preserve_color or None)
        if mode not in (None, *color.MODES):
            raise SettingsError(f"unknown colour preservation mode {preserve_color!r}: use output or style")
        ref = color_reference if mode == "style" else None
        if mode == "style" and ref is None:
            raise SettingsError("colour preservation in 'style' mode needs a content reference")
        stats = [s if isinstance(s, StyleStats) else self.load_style(s, ref) for s in styles]
        if masks is None or len(masks) == 0:
            w = check_weights(weights, len(stats))
            return Look((mix(stats, w),), alpha, mode == "output")
        if weights is not None:
            raise SettingsError("--style-weights and --mask cannot be combined: each mask region takes one style")
        mask_t = masks if isinstance(masks, torch.Tensor) else load_masks(masks)
        k, n = mask_t.shape[1], len(stats)
        content_region = False
        if k == n - 1 or (n == 1 and k == 1):
            rest = (1.0 - mask_t.sum(dim=1, keepdim=True)).clamp(0, 1)
            mask_t = torch.cat([mask_t, rest], dim=1)
            content_region = n == 1
        elif k != n:
            raise SettingsError(f"{k} masks for {n} styles: give one mask per style, or one fewer (the last style fills the rest)")
        return Look(tuple(stats), alpha, mode == "output", mask_t, content_region)

    @torch.no_grad()
    def transfer(self, feats: torch.Tensor, look: Look) -> torch.Tensor:
        """AdaIN target features for a look (alpha, mixing and masks applied).

        Shape:
            ``(B, 512, h, w)`` -> ``(B, 512, h, w)``.
        """
        if look.masks is None:
            mean, std = look.styles[0].as_tensors(feats.device)
            target = adain(feats, mean, std)
        else:
            means = torch.stack([s.mean for s in look.styles]).to(feats.device)
            stds = torch.stack([s.std for s in look.styles]).to(feats.device)
            if look.content_region:
                # The region outside the single mask keeps the content's own statistics.
                c_mean, c_std = channel_stats(feats)
                means = torch.cat([means.expand(feats.shape[0], -1, -1), c_mean.flatten(2).transpose(1, 2)], 1)
                stds = torch.cat([stds.expand(feats.shape[0], -1, -1), c_std.flatten(2).transpose(1, 2)], 1)
                target = torch.cat([spatial_adain(feats[i : i + 1], look.masks.to(feats.device), means[i], stds[i]) for i in range(feats.shape[0])])
            else:
                masks = look.masks.to(feats.device).expand(feats.shape[0], -1, -1, -1)
                target = spatial_adain(feats, masks, means, stds)
        return with_alpha(target, feats, look.alpha)

    @torch.no_grad()
    def stylize(self, frames: torch.Tensor, look: Look) -> torch.Tensor:
        """Stylize a batch: ``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 3, H, W)`` RGB in [0, 1], float32 on the CPU."""
        if self.decoder is None:
            raise WeightsError("this Stylizer was made without a decoder")
        h0, w0 = frames.shape[-2:]
        h, w = working_size(h0, w0, self.size)
        x = frames.to(self.device, non_blocking=True).float()
        small = resize(x, (h, w))
        if self.device.type == "cuda":
            small = small.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            feats = self.encoder.encode(small)
            target = self.transfer(feats.float(), look)
            out = self.decoder(target.to(feats.dtype))
        out = out.float().clamp(0, 1)
        if look.preserve_color:
            out = color.preserve_colors(out, small)
        out = resize(out, (h0, w0)).clamp(0, 1)
        return out.cpu()


def load_masks(paths: Sequence[str | Path]) -> torch.Tensor:
    """Greyscale masks from image files, ``(1, K, H, W)`` in [0, 1]; all must share one size."""
    masks = []
    for p in paths:
        img = read_image(p)
        grey = img.rgb.mean(dim=1, keepdim=True)
        masks.append(grey)
    sizes = {tuple(m.shape[-2:]) for m in masks}
    if len(sizes) > 1:
        raise InputError(f"masks differ in size ({', '.join(f'{w}x{h}' for h, w in sorted(sizes))}): give masks of one size")
    return torch.cat(masks, dim=1)


def save_style(stats: StyleStats, output: str | Path, *, overwrite: bool = False, inputs: tuple[Path, ...] = ()) -> None:
    """Write statistics to a ``.style`` file atomically."""
    from .outputs import atomic_path

    output = Path(output)
    if output.suffix != STYLE_SUFFIX:
        raise SettingsError(f"style files end in {STYLE_SUFFIX}: name the output like {output.stem}{STYLE_SUFFIX}")
    with atomic_path(output, overwrite=overwrite, inputs=inputs) as tmp:
        stats.save(tmp)
