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
from typing import TYPE_CHECKING, Sequence

import torch

from . import color
from .errors import InputError, SettingsError, WeightsError
from .imageio import read_image, resize, working_size
from .model import Decoder, Encoder, encoder_id, load_decoder, load_encoder
from .stats import StyleStats, adain, channel_stats, complete_masks, mix, spatial_adain, with_alpha

if TYPE_CHECKING:
    from .timeline import StyleState

STYLE_SUFFIX = ".style"
# The paper trains and evaluates at 512 px; style statistics are taken at that size.
STYLE_SIZE = 512
DEFAULT_SIZE = 512
# Mask feathering, in relu4_1 feature pixels (8 image pixels each at the working
# size): the Gaussian's sigma. Features are blended by the masks and the decoder
# upsamples 8x, so a hard step in a mask comes out as a blocky seam one feature
# wide; sigma = 1 spreads the change over about +-2 features (+-16 px at the
# working size), enough for the seam to vanish in the decoder's own smoothing,
# and little enough next to relu4_1's receptive field that each region still
# gets its style up to its edge. Already-soft masks are barely changed.
MASK_FEATHER = 1.0


@dataclass(frozen=True)
class Look:
    """Everything the model applies to a frame, already resolved to statistics.

    ``styles`` are the statistics to apply (one per mask region when ``masks``
    is given, otherwise mixed into one); ``masks`` is ``(1, K, H, W)`` in [0, 1]
    (the same for every frame) or ``(B, K, H, W)`` (one set per frame of the
    batch, e.g. from mask videos), or None. ``K`` is one per region, or one
    fewer: the last region is then what the others leave. ``content_region``
    says the last region keeps the content. ``color_method`` is how colours are
    preserved (:data:`vidstyle.color.METHODS`; "histogram" for stills).
    ``mask_streams[k]``, when given, names the mask video whose frames fill
    slot ``k`` of ``masks`` (see :func:`vidstyle.masks.fill_masks`): such a
    look must be filled for each batch before it reaches the model.
    """

    styles: tuple[StyleStats, ...]
    alpha: float = 1.0
    preserve_color: bool = False
    masks: torch.Tensor | None = None
    content_region: bool = False
    color_method: str = "histogram"
    mask_streams: tuple[str | None, ...] = ()

    @property
    def regions(self) -> int:
        return len(self.styles) + int(self.content_region)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda was asked for but no CUDA GPU is available: use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise SettingsError(f"unsupported device {device!r}: use auto, cpu or cuda")
    return dev


def check_weights(weights: Sequence[float] | None, n: int, where: str = "") -> tuple[float, ...]:
    """Validate style weights: one per style, each non-negative, summing to 1.

    ``where`` (e.g. a timeline file and keyframe) starts the error message.
    """
    if weights is None:
        return (1.0 / n,) * n
    at = f"{where}: " if where else ""
    if len(weights) != n:
        raise SettingsError(f"{at}{len(weights)} style weights given for {n} styles: give one weight per style")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise SettingsError(f"{at}style weights must be non-negative numbers, got {', '.join(map(str, weights))}")
    if abs(sum(weights) - 1.0) > 1e-4:
        raise SettingsError(f"{at}style weights {', '.join(f'{w:g}' for w in weights)} sum to {sum(weights):g}; they must sum to 1")
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
            # Measured on an H200 (benchmarks/RESULTS.md): the encoder is fastest
            # channels_last, the decoder in the plain layout, where reflection
            # padding is 2.2x faster.
            self.encoder.to(memory_format=torch.channels_last)

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
        color_method: str = "histogram",
    ) -> Look:
        """Resolve user controls into a :class:`Look` (style images are encoded here, once).

        ``preserve_color``: False, True/"output" (match the result's colours to
        each frame) or "style" (match the style image to ``color_reference``).
        ``masks``: N masks for N styles, N-1 masks (the last style fills the
        rest), or one mask for one style (the rest keeps the content); the
        masks are kept as given, the last region is made at transfer time.
        ``color_method``: see :data:`vidstyle.color.METHODS`.
        """
        if not styles:
            raise SettingsError("give at least one style (--style)")
        alpha = check_alpha(alpha)
        mode = "output" if preserve_color is True else (preserve_color or None)
        if mode not in (None, *color.MODES):
            raise SettingsError(f"unknown colour preservation mode {preserve_color!r}: use output or style")
        if color_method not in color.METHODS:
            raise SettingsError(f"unknown colour method {color_method!r}: use {' or '.join(color.METHODS)}")
        ref = color_reference if mode == "style" else None
        if mode == "style" and ref is None:
            raise SettingsError("colour preservation in 'style' mode needs a content reference")
        stats = [s if isinstance(s, StyleStats) else self.load_style(s, ref) for s in styles]
        if masks is None or len(masks) == 0:
            w = check_weights(weights, len(stats))
            return Look((mix(stats, w),), alpha, mode == "output", color_method=color_method)
        if weights is not None:
            raise SettingsError("--style-weights and --mask cannot be combined: each mask region takes one style")
        mask_t = masks if isinstance(masks, torch.Tensor) else load_masks(masks)
        k, n = mask_t.shape[1], len(stats)
        content_region = False
        if n == 1 and k == 1:
            content_region = True
        elif k != n and k != n - 1:
            raise SettingsError(f"{k} masks for {n} styles: give one mask per style, or one fewer (the last style fills the rest)")
        return Look(tuple(stats), alpha, mode == "output", mask_t, content_region, color_method)

    @torch.no_grad()
    def transfer(self, feats: torch.Tensor, look: Look) -> torch.Tensor:
        """AdaIN target features for a look (alpha, mixing and masks applied).

        Shape:
            ``(B, 512, h, w)`` -> ``(B, 512, h, w)``.
        """
        if any(look.mask_streams):
            raise ValueError("this look's masks come from mask videos: fill them for the batch first (vidstyle.masks.fill_masks)")
        if look.masks is None:
            mean, std = look.styles[0].as_tensors(feats.device)
            target = adain(feats, mean, std)
        else:
            b = feats.shape[0]
            if look.masks.shape[0] not in (1, b):
                raise ValueError(f"{look.masks.shape[0]} mask sets for a batch of {b} frames")
            masks = complete_masks(look.masks.to(feats.device), look.regions).expand(b, -1, -1, -1)
            means = torch.stack([s.mean for s in look.styles]).to(feats.device)
            stds = torch.stack([s.std for s in look.styles]).to(feats.device)
            if look.content_region:
                # The region outside the single mask keeps the content's own statistics.
                c_mean, c_std = channel_stats(feats)
                means = torch.cat([means.expand(b, -1, -1), c_mean.flatten(2).transpose(1, 2)], 1)
                stds = torch.cat([stds.expand(b, -1, -1), c_std.flatten(2).transpose(1, 2)], 1)
                target = torch.cat([
                    spatial_adain(feats[i : i + 1], masks[i : i + 1], means[i], stds[i], feather=MASK_FEATHER)
                    for i in range(b)
                ])
            else:
                target = spatial_adain(feats, masks, means, stds, feather=MASK_FEATHER)
        return with_alpha(target, feats, look.alpha)

    @torch.no_grad()
    def stylize(self, frames: torch.Tensor, look: Look) -> torch.Tensor:
        """Stylize a batch: ``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 3, H, W)`` RGB in [0, 1], float32 on the CPU."""
        preserve = torch.ones(frames.shape[0]) if look.preserve_color else None
        return self._run(frames, lambda feats: self.transfer(feats, look), preserve, look.color_method)

    @torch.no_grad()
    def stylize_states(
        self, frames: torch.Tensor, states: Sequence["StyleState"], color_method: str = "histogram"
    ) -> torch.Tensor:
        """Stylize a batch with one :class:`~vidstyle.timeline.StyleState` per frame (a timeline).

        Frames without masks share one vectorised transfer; a frame with masks
        (its own, ``(1, K, H, W)``: still masks, or that frame of mask videos)
        is transferred on its own, as :meth:`transfer` does for a :class:`Look`.
        ``color_method`` preserves colours where a state asks for it
        (:data:`vidstyle.color.METHODS`).

        Shape:
            ``(B, 3, H, W)`` RGB in [0, 1] and B states -> ``(B, 3, H, W)``, float32 on the CPU.
        """
        if len(states) != frames.shape[0]:
            raise ValueError(f"{len(states)} states for {frames.shape[0]} frames")
        if any(any(s.mask_streams) for s in states):
            raise ValueError("a state's masks come from mask videos: fill them for the frame first (vidstyle.masks.fill_masks)")

        def target(feats: torch.Tensor) -> torch.Tensor:
            if all(s.masks is None for s in states):
                mean = torch.stack([s.mean for s in states]).to(feats.device)[:, :, None, None]
                std = torch.stack([s.std for s in states]).to(feats.device)[:, :, None, None]
                alpha = torch.tensor([s.alpha for s in states], device=feats.device)[:, None, None, None]
                out = adain(feats, mean, std)
                return out if bool((alpha == 1).all()) else alpha * out + (1 - alpha) * feats
            return torch.cat([self.transfer(feats[i : i + 1], _state_look(s, self.encoder_id)) for i, s in enumerate(states)])

        preserve = torch.tensor([float(s.preserve_color) for s in states])
        return self._run(frames, target, preserve if bool((preserve > 0).any()) else None, color_method)

    def _run(
        self, frames: torch.Tensor, make_target, preserve: torch.Tensor | None, color_method: str = "histogram"
    ) -> torch.Tensor:
        """Encode, ``make_target`` on the features, decode; blend in colour preservation by ``preserve`` ``(B,)``."""
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
            target = make_target(feats.float())
            out = self.decoder(target.to(feats.dtype).contiguous())
        out = out.float().clamp(0, 1)
        if preserve is not None:
            if bool((preserve == 1).all()):
                out = color.preserve(out, small, color_method)
            else:
                keep = (preserve > 0).nonzero().flatten().tolist()
                p = preserve[keep].to(out.device)[:, None, None, None]
                out[keep] = torch.lerp(out[keep], color.preserve(out[keep], small[keep], color_method), p)
        out = resize(out, (h0, w0)).clamp(0, 1)
        return out.cpu()


def _state_look(state: "StyleState", encoder: str) -> Look:
    """A one-frame :class:`Look` from a timeline state (``(C,)`` stats, or ``(K, C)`` with masks)."""
    means, stds = (state.mean, state.std) if state.masks is not None else (state.mean[None], state.std[None])
    styles = tuple(StyleStats(m, s, encoder) for m, s in zip(means, stds))
    return Look(styles, state.alpha, False, state.masks, state.content_region)


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
