"""The stylizer: encoder -> AdaIN with each frame's :class:`~vidstyle.look.Look` -> decoder.

One way into the model: :meth:`Stylizer.stylize` takes a batch of frames and
one look per frame (or one for all), whether the looks come from a still
image's controls, a plain run or a timeline. Frames come in as float RGB
``(B, 3, H, W)`` in [0, 1] at any size and go out the same way at the same
size; the network works at a maximum side of ``size``.

The work between the two networks is pure functions on tensors
(:func:`adain_targets`, :func:`preserve_colors`), so another backend only has to
encode and decode (:meth:`Stylizer.encode`, :meth:`Stylizer.decode`: the only
two places the networks run on frames). A style reaches the model only as
:class:`~vidstyle.stats.StyleStats`: every style image is encoded once, when
its look is built, never per frame.

A stage with memory (the temporal stage, :mod:`vidstyle.temporal`) takes part
through :class:`BatchHooks`, one object per call of :meth:`Stylizer.stylize`,
at three places around the networks, all at the working size::

    small = frames at the working size       -> hooks.begin(small)         (flow of the source; gives what
                                                                           the encoder sees)
    feats = encode(begin's frames)           -> hooks.content_stats(feats) (AdaIN's content statistics, or None)
    target = AdaIN with each frame's look    -> hooks.features(target)     (the decoder's input)
    out = decode(target)                     -> hooks.output(out)          (before colour and resizing)
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch

from . import color
from .backends import Backend, load_backend
from .draft import guided_upsample
from .errors import InputError, OutOfMemoryError, SettingsError, WeightsError
from .imageio import read_image, resize, working_size
from .look import Look, color_mode
from .model import Decoder, Encoder, encoder_id, load_decoder, load_encoder
from .outputs import atomic_path, check_destination, default_output
from .settings import ModelSettings
from .stats import StyleStats, adain, channel_stats, complete_masks, spatial_adain, with_alpha

__all__ = ["Stylizer", "BatchHooks", "adain_targets", "preserve_colors", "resolve_device", "save_style",
           "write_style", "STYLE_SUFFIX"]

STYLE_SUFFIX = ".style"
# The paper trains and evaluates at 512 px; style statistics are taken at that size.
STYLE_SIZE = 512
_MODEL = ModelSettings()
# Mask feathering, in relu4_1 feature pixels (8 image pixels each at the working
# size): the Gaussian's sigma. Features are blended by the masks and the decoder
# upsamples 8x, so a hard step in a mask comes out as a blocky seam one feature
# wide; sigma = 1 spreads the change over about +-2 features (+-16 px at the
# working size), enough for the seam to vanish in the decoder's own smoothing,
# and little enough next to relu4_1's receptive field that each region still
# gets its style up to its edge. Already-soft masks are barely changed.
MASK_FEATHER = 1.0


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when present, else the CPU; SettingsError for a device that is not there."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("a CUDA GPU was asked for but none is available: use the CPU", settings="device")
    if dev.type not in ("cpu", "cuda"):
        raise SettingsError(f"unsupported device {device!r}: use auto, cpu or cuda", settings="device")
    return dev


# --------------------------------------------------------------------------- #
# Between the encoder and the decoder: pure functions of features and looks
# --------------------------------------------------------------------------- #


def _masked_target(feat: torch.Tensor, look: Look) -> torch.Tensor:
    """One frame's target with spatial control: region k gets style k (the last may keep the content)."""
    assert look.masks is not None  # callers pick masked looks
    masks = complete_masks(look.masks.to(feat.device), look.regions)
    means = torch.stack([s.mean for s in look.styles]).to(feat.device)
    stds = torch.stack([s.std for s in look.styles]).to(feat.device)
    if look.content_region:
        # The region outside the single mask keeps the content's own statistics.
        c_mean, c_std = channel_stats(feat)
        means, stds = torch.cat([means, c_mean.flatten(1)]), torch.cat([stds, c_std.flatten(1)])
    return with_alpha(spatial_adain(feat, masks, means, stds, feather=MASK_FEATHER), feat, look.alpha)


def _plain_targets(feats: torch.Tensor, looks: Sequence[Look],
                   content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Frames without masks, in one vectorised transfer: each to its look's statistics and alpha."""
    mean = torch.stack([look.styles[0].mean for look in looks]).to(feats.device)[:, :, None, None]
    std = torch.stack([look.styles[0].std for look in looks]).to(feats.device)[:, :, None, None]
    target = adain(feats, mean, std, content_stats=content_stats)
    alpha = torch.tensor([look.alpha for look in looks], device=feats.device)[:, None, None, None]
    return target if bool((alpha == 1).all()) else alpha * target + (1 - alpha) * feats


def adain_targets(feats: torch.Tensor, looks: Sequence[Look],
                  content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The AdaIN target features of each frame for its look: statistics, masks and alpha applied.

    Frames without masks share one vectorised transfer; a frame with masks is
    transferred on its own (its statistics are taken inside each region).

    Args:
        content_stats: what to normalise the content by, in place of each
            frame's own channel mean and std (the temporal stage's steady
            statistics), ``(B, C, 1, 1)`` each. Frames with masks keep their
            regions' own statistics: a region's statistics follow its mask,
            which may change from frame to frame.

    Shape:
        feats ``(B, C, h, w)`` and ``B`` looks -> ``(B, C, h, w)``.
    """
    if len(looks) != feats.shape[0]:
        raise ValueError(f"{len(looks)} looks for {feats.shape[0]} frames")
    plain = [i for i, look in enumerate(looks) if look.masks is None]
    if len(plain) == len(looks):
        return _plain_targets(feats, looks, content_stats)
    out = torch.empty_like(feats)
    if plain:
        picked = None if content_stats is None else (content_stats[0][plain], content_stats[1][plain])
        out[plain] = _plain_targets(feats[plain], [looks[i] for i in plain], picked)
    for i, look in enumerate(looks):
        if look.masks is not None:
            out[i : i + 1] = _masked_target(feats[i : i + 1], look)
    return out


def preserve_colors(out: torch.Tensor, content: torch.Tensor, looks: Sequence[Look]) -> torch.Tensor:
    """Blend each frame's colour-preserved result in, by its look's ``preserve_color`` and method.

    Shape:
        out, content ``(B, 3, h, w)`` RGB in [0, 1] and ``B`` looks -> ``(B, 3, h, w)``.
    """
    for method in dict.fromkeys(look.color_method for look in looks if look.preserve_color > 0):
        rows = [i for i, look in enumerate(looks) if look.preserve_color > 0 and look.color_method == method]
        kept = color.preserve(out[rows], content[rows], method)
        p = torch.tensor([looks[i].preserve_color for i in rows], device=out.device)[:, None, None, None]
        out[rows] = kept if bool((p == 1).all()) else torch.lerp(out[rows], kept, p)
    return out


class BatchHooks(Protocol):
    """A stage with memory inside one :meth:`Stylizer.stylize` call (see the module docstring).

    :meth:`vidstyle.temporal.Temporal.hooks` makes one per batch. Every
    tensor is at the working size, on the model's device, float32; each
    method returns what it was given when it has nothing to do. The hooks
    never see the networks: whatever computes :meth:`Stylizer.encode` and
    :meth:`Stylizer.decode` (torch, another runtime), they see its features
    and pictures.
    """

    def begin(self, small: torch.Tensor) -> torch.Tensor:
        """The batch's source frames, ``(B, 3, h, w)`` in [0, 1], before anything else; gives what the encoder sees.

        Whatever it gives (``small`` itself, or the frames steadied or moved
        to the network's grid), ``output`` gets back to ``small``'s coordinates.
        """

    def content_stats(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """What AdaIN normalises the content by, ``(B, C, 1, 1)`` twice; None: each frame's own."""

    def features(self, target: torch.Tensor) -> torch.Tensor:
        """The decoder's input ``(B, C, h', w')`` (AdaIN's output with alpha and masks), changed or not."""

    def output(self, decoded: torch.Tensor) -> torch.Tensor:
        """The decoded frames ``(B, 3, h, w)`` in [0, 1], before colour preservation and resizing."""


class _NoMemory:
    """The hooks of a frame stylized on its own: every step passes through unchanged."""

    def begin(self, small: torch.Tensor) -> torch.Tensor:
        return small

    def content_stats(self, feats: torch.Tensor) -> None:
        return None

    def features(self, target: torch.Tensor) -> torch.Tensor:
        return target

    def output(self, decoded: torch.Tensor) -> torch.Tensor:
        return decoded


_NO_MEMORY = _NoMemory()


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #


class Stylizer:
    """Loads the networks once and stylizes batches of frames.

    Args:
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        size: maximum side, in pixels, the network works at (3/8 of it in draft quality).
        decoder: False to load only the encoder (enough to compute style statistics).
        backend: where the networks run on frames (:mod:`vidstyle.backends`);
            ``"auto"``: the fastest one for this machine.
        quality: ``"full"``, or ``"draft"`` (:mod:`vidstyle.draft`).

    Attributes:
        size: the working size actually used.
        backend: the backend frames run on (its ``name`` says which).
        warnings: what the caller should tell the user (e.g. why the int8 model is not used).
    """

    def __init__(self, device: str | torch.device = _MODEL.device, size: int = _MODEL.size, *,
                 decoder: bool = True, backend: str = _MODEL.backend, quality: str = _MODEL.quality) -> None:
        # The same rules as every other way in.
        settings = ModelSettings(size=size, device=str(device), backend=backend, quality=quality)
        self.device = resolve_device(device)
        self.size = settings.working_size
        self.quality = quality
        self.encoder: Encoder = load_encoder().to(self.device)
        self.decoder: Decoder | None = load_decoder().to(self.device) if decoder else None
        self.encoder_id = encoder_id()
        self.backend: Backend | None = None
        self.warnings: list[str] = []
        if self.decoder is not None:
            self.backend, self.warnings = load_backend(backend, self.device, self.encoder, self.decoder)

    @classmethod
    def from_settings(cls, model: ModelSettings, *, decoder: bool = True) -> Stylizer:
        return cls(model.device, model.size, decoder=decoder, backend=model.backend, quality=model.quality)

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
            raise InputError(f"style not found: {path}", settings="styles")
        if path.suffix == STYLE_SUFFIX:
            if color_reference is not None:
                raise SettingsError(f"{path} is a saved style: colour preservation in 'style' mode needs the image",
                                    settings="preserve_color")
            try:
                stats = StyleStats.load(path)
            except Exception:
                raise InputError(f"{path} is not a valid .style file: make it again from the image") from None
            if stats.encoder != self.encoder_id:
                raise InputError(f"{path} was made with another encoder ({stats.encoder}): make it again from the image")
            return stats
        img = read_image(path).rgb
        if color_reference is not None:
            img = color.preserve_colors(img, color_reference)
        return self.style_stats(img, source=path.name)

    def look(
        self,
        styles: Sequence[str | os.PathLike[str] | StyleStats],
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: bool | str = False,
        masks: torch.Tensor | None = None,
        *,
        color_reference: torch.Tensor | None = None,
        color_method: str = "histogram",
    ) -> Look:
        """A :class:`Look` from user controls; style images are encoded here, once.

        ``preserve_color``: False, True/"output" (match the result's colours to
        each frame) or "style" (match the style images to ``color_reference``).
        ``masks``: ``(1, K, H, W)``, fitted to the content (see :mod:`vidstyle.masks`).
        """
        mode = color_mode(preserve_color)
        if mode == "style" and color_reference is None:
            raise SettingsError("colour preservation in 'style' mode needs a content reference",
                                settings="preserve_color")
        ref = color_reference if mode == "style" else None
        stats = [s if isinstance(s, StyleStats) else self.load_style(s, ref) for s in styles]
        return Look.of(stats, weights, alpha, mode == "output", masks, color_method=color_method)

    def working(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames on the model's device at the working size: what the encoder and the hooks see.

        Shape:
            ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, h, w)`` float32, longest side at most ``size``.
        """
        h0, w0 = frames.shape[-2:]
        return resize(frames.to(self.device, non_blocking=True).float(), working_size(h0, w0, self.size))

    @torch.no_grad()
    def encode(self, small: torch.Tensor) -> torch.Tensor:
        """The encoder on frames at the working size: relu4_1 features, float32.

        Shape:
            ``(B, 3, h, w)`` in [0, 1] on the model's device -> ``(B, 512, h/8, w/8)``.
        """
        if self.backend is None:
            raise WeightsError("this Stylizer was made without a decoder")
        return self.backend.encode(small).float()

    @torch.no_grad()
    def decode(self, target: torch.Tensor) -> torch.Tensor:
        """The decoder on target features: pictures at the working size, float32 in [0, 1].

        Shape:
            ``(B, 512, h/8, w/8)`` -> ``(B, 3, h, w)``.
        """
        if self.backend is None:
            raise WeightsError("this Stylizer was made without a decoder")
        return self.backend.decode(target).float().clamp(0, 1)

    @torch.no_grad()
    def stylize(self, frames: torch.Tensor, looks: Look | Sequence[Look], *,
                hooks: BatchHooks | None = None) -> torch.Tensor:
        """Stylize a batch, each frame with its look (one :class:`Look` for all, or one per frame).

        Looks with mask videos must have this frame's masks in place first
        (:meth:`Look.for_frame`). ``hooks`` lets a stage with memory (the
        temporal stage) take part (:class:`BatchHooks`); without it every
        frame is stylized on its own.

        Shape:
            ``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 3, H, W)`` RGB in [0, 1], float32 on the CPU.

        Raises:
            OutOfMemoryError: the device ran out of memory for this batch at this size.
        """
        if self.decoder is None:
            raise WeightsError("this Stylizer was made without a decoder")
        b = frames.shape[0]
        looks = [looks] * b if isinstance(looks, Look) else list(looks)
        if len(looks) != b:
            raise ValueError(f"{len(looks)} looks for {b} frames")
        if any(look.needs_frames for look in looks):
            raise ValueError("a look's masks come from mask videos: put in the frame's masks first (Look.for_frame)")
        h0, w0 = frames.shape[-2:]
        try:
            full = frames.to(self.device, non_blocking=True).float()
            small = self.working(full)
            hooks = hooks if hooks is not None else _NO_MEMORY
            feats = self.encode(hooks.begin(small))
            target = hooks.features(adain_targets(feats, looks, hooks.content_stats(feats)))
            out = preserve_colors(hooks.output(self.decode(target)), small, looks)
            if self.quality == "draft" and out.shape[-2:] != full.shape[-2:]:
                return guided_upsample(out, small, full).cpu()
            return resize(out, (h0, w0)).clamp(0, 1).cpu()
        except (torch.cuda.OutOfMemoryError, MemoryError):
            raise OutOfMemoryError(
                f"the {self.device.type.upper()} ran out of memory stylizing {b} frames at a working size of "
                f"{self.size} px: lower the batch or the working size",
                settings=("batch", "size"),
            ) from None


def save_style(stats: StyleStats, output: str | os.PathLike[str], *, overwrite: bool = False,
               inputs: tuple[Path, ...] = ()) -> Path:
    """Write statistics to a ``.style`` file atomically, with the permissions of any other output."""
    output = Path(output)
    if output.suffix != STYLE_SUFFIX:
        raise SettingsError(f"style files end in {STYLE_SUFFIX}: name the output like {output.stem}{STYLE_SUFFIX}",
                            settings="output")
    with atomic_path(output, overwrite=overwrite, inputs=inputs) as tmp:
        # Written into the temporary file we created (mode from the umask, like
        # every output): a library that writes its own file would choose its own mode.
        tmp.write_bytes(stats.to_bytes())
    return output


def write_style(image: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
                device: str = _MODEL.device, overwrite: bool = False) -> Path:
    """Save a style image's statistics as a ``.style`` file (default: ``<image>.style`` beside it).

    The file is usable wherever a style image is, without encoding the image again.
    """
    image = Path(image)
    dest = Path(output) if output is not None else default_output(image, STYLE_SUFFIX, "")
    check_destination(dest, overwrite=overwrite, inputs=(image,))  # before the encoder loads
    stylizer = Stylizer(device=device, decoder=False)
    return save_style(stylizer.load_style(image), dest, overwrite=overwrite, inputs=(image,))
