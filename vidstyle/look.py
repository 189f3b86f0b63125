"""The look of a frame: what the model applies to it, as plain values, and the rules that keep it valid.

A :class:`Look` is everything the model needs to stylize one frame: the style
statistics (already mixed or interpolated), alpha, how much colour to preserve
and how, and the masks of a spatially controlled frame. A still image has one;
a video asks its :class:`~vidstyle.timeline.StyleSchedule` for one per frame
(a plain run is a schedule with a single keyframe). The Stylizer takes a batch
of frames and one look per frame: that is the only way into the model.

The rules for styles, weights, alpha and masks live here once, for the
Python API, the settings, timelines and farm jobs alike:

- :func:`check_weights`: one weight per style, non-negative, summing to 1.
- :func:`check_alpha`: alpha in [0, 1].
- :func:`check_mask_count`: N masks for N styles, or N-1 (the last style fills
  the rest); one mask for one style leaves the rest to the content.

This module sits below both :mod:`vidstyle.stylize` and :mod:`vidstyle.timeline`
and imports neither.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from .color import METHODS as COLOR_METHODS, MODES as COLOR_MODES
from .errors import SettingsError
from .stats import StyleStats, mix

__all__ = ["Look", "check_weights", "check_alpha", "check_mask_count", "color_mode", "fill_masks"]


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def check_weights(weights: Sequence[float] | None, n: int, where: str = "") -> tuple[float, ...]:
    """Style weights: one per style, each non-negative, summing to 1; equal weights when None.

    ``where`` (e.g. a timeline file and keyframe) starts the error message.

    >>> check_weights(None, 2), check_weights([0.25, 0.75], 2)
    ((0.5, 0.5), (0.25, 0.75))
    """
    if weights is None:
        return (1.0 / n,) * n
    at = _at(where)
    if len(weights) != n:
        raise SettingsError(f"{at}{len(weights)} style weights given for {n} styles: give one weight per style",
                            settings="weights")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise SettingsError(f"{at}style weights must be non-negative numbers, got {', '.join(map(str, weights))}",
                            settings="weights")
    if abs(sum(weights) - 1.0) > 1e-4:
        raise SettingsError(
            f"{at}style weights {', '.join(f'{w:g}' for w in weights)} sum to {sum(weights):g}; they must sum to 1",
            settings="weights",
        )
    return tuple(float(w) for w in weights)


def check_alpha(alpha: float, where: str = "") -> float:
    """Alpha, the content/style trade-off on the features, must lie in [0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise SettingsError(f"{_at(where)}alpha must be a number between 0 and 1, got {alpha!r}", settings="alpha")
    return float(alpha)


def check_mask_count(masks: int, styles: int, where: str = "") -> None:
    """N masks for N styles, or N-1 (the last style fills what the others leave); one for one style.

    With one style and one mask, the style applies inside the mask and the
    rest keeps the content.
    """
    if masks >= 1 and (masks == styles or masks == styles - 1):
        return
    raise SettingsError(
        f"{_at(where)}{masks} masks for {styles} styles: give one mask per style, or one fewer "
        "(the last style fills the rest)",
        settings="masks",
    )


def color_mode(preserve_color: bool | str | None) -> str | None:
    """Colour preservation as given (False, True, ``"output"``, ``"style"``) -> None, ``"output"`` or ``"style"``.

    ``"output"`` matches the result's colours to the content; ``"style"`` the
    style images' colours, before their statistics are taken.
    """
    if preserve_color is True:
        return "output"
    if preserve_color in (False, None):
        return None
    if preserve_color not in COLOR_MODES:
        raise SettingsError(f"unknown colour preservation {preserve_color!r}: use {' or '.join(COLOR_MODES)}",
                            settings="preserve_color")
    return str(preserve_color)


def fill_masks(
    stills: torch.Tensor,
    streams: Sequence[str | None],
    decoded: Mapping[str, torch.Tensor],
    row: int,
) -> torch.Tensor:
    """One frame's masks: still slots from ``stills``, the others from that frame of the mask videos.

    ``decoded[name]`` holds a batch's frames of mask video ``name``;
    ``row`` picks the frame in the batch.

    Shape:
        stills ``(1, K, H, W)``; decoded ``(B, 1, H, W)`` each -> ``(1, K, H, W)``.
    """
    if not any(streams):
        return stills
    out = stills.clone()
    for k, name in enumerate(streams):
        if name is not None:
            out[:, k : k + 1] = decoded[name][row : row + 1]
    return out


@dataclass(frozen=True)
class Look:
    """Everything the model applies to one frame, already resolved to statistics.

    Args:
        styles: the statistics to apply: exactly one (several styles are mixed
            first, see :meth:`of`) or, with ``masks``, one per mask region.
        alpha: the content/style trade-off on the features, in [0, 1].
        preserve_color: how much of the colour-preserved result to take, in
            [0, 1] (a bool is 0 or 1; a cross-fade passes through the values between).
        masks: ``(1, K, H, W)`` in [0, 1] at any size, or None. ``K`` is one
            mask per style, or one fewer: the last style then fills what the
            others leave; one mask for one style leaves the rest to the content.
        color_method: how colours are preserved (:data:`vidstyle.color.METHODS`).
        mask_streams: where given, ``mask_streams[k]`` names the mask video
            whose frames fill slot ``k`` of ``masks`` (None: a still mask). Such a
            look is a template: :meth:`for_frame` puts in each frame's masks
            before it reaches the model.

    Raises:
        SettingsError: a value or combination is out of range.
    """

    styles: tuple[StyleStats, ...]
    alpha: float = 1.0
    preserve_color: float = 0.0
    masks: torch.Tensor | None = None
    color_method: str = "histogram"
    mask_streams: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.styles, tuple):
            object.__setattr__(self, "styles", tuple(self.styles))
        if not self.styles:
            raise SettingsError("a look needs at least one style", settings="styles")
        check_alpha(self.alpha)
        pc = self.preserve_color
        if isinstance(pc, bool) or not isinstance(pc, float):
            object.__setattr__(self, "preserve_color", float(pc))
        if not 0.0 <= self.preserve_color <= 1.0:
            raise SettingsError(f"colour preservation must lie in [0, 1], got {pc!r}", settings="preserve_color")
        if self.color_method not in COLOR_METHODS:
            raise SettingsError(
                f"unknown colour method {self.color_method!r}: use {' or '.join(COLOR_METHODS)}",
                settings="color_method",
            )
        if self.masks is None:
            if len(self.styles) != 1:
                raise SettingsError(f"{len(self.styles)} styles without masks: mix them into one (Look.of)",
                                    settings="styles")
            if self.mask_streams:
                raise SettingsError("mask videos need masks to fill", settings="masks")
            return
        if self.masks.ndim != 4 or self.masks.shape[0] != 1:
            raise ValueError(f"masks must be (1, K, H, W); got {tuple(self.masks.shape)}")
        check_mask_count(self.masks.shape[1], len(self.styles))
        if self.mask_streams and len(self.mask_streams) != self.masks.shape[1]:
            raise ValueError(f"{len(self.mask_streams)} mask streams for {self.masks.shape[1]} masks")

    @classmethod
    def of(
        cls,
        styles: Sequence[StyleStats],
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        preserve_color: float | bool = 0.0,
        masks: torch.Tensor | None = None,
        *,
        mask_streams: tuple[str | None, ...] = (),
        color_method: str = "histogram",
        where: str = "",
    ) -> Look:
        """The look of user controls: several styles mixed by ``weights``, or one per mask region.

        ``weights`` cannot go with ``masks``: each mask region takes one style.
        """
        if not styles:
            raise SettingsError(f"{_at(where)}give at least one style", settings="styles")
        if masks is None:
            return cls((mix(list(styles), check_weights(weights, len(styles), where)),), alpha, preserve_color,
                       color_method=color_method)
        if weights is not None:
            raise SettingsError(f"{_at(where)}style weights and masks cannot be combined: each mask region "
                                "takes one style", settings=("weights", "masks"))
        check_mask_count(masks.shape[1], len(styles), where)
        return cls(tuple(styles), alpha, preserve_color, masks, color_method, mask_streams)

    @property
    def content_region(self) -> bool:
        """True when a single mask places a single style and the rest of the frame keeps the content."""
        return self.masks is not None and len(self.styles) == 1 and self.masks.shape[1] == 1

    @property
    def regions(self) -> int:
        """How many regions the masks split the frame into (the last one may be implied)."""
        return len(self.styles) + int(self.content_region)

    @property
    def needs_frames(self) -> bool:
        """True when some masks come from mask videos (see :meth:`for_frame`)."""
        return any(s is not None for s in self.mask_streams)

    def for_frame(self, decoded: Mapping[str, torch.Tensor], row: int) -> Look:
        """This look with the masks of one frame of a batch in place (itself without mask videos).

        ``decoded[name]`` is the batch's frames of mask video ``name``
        (:attr:`vidstyle.video.FrameBatch.masks`), ``(B, 1, H, W)`` each.
        """
        if not self.needs_frames or self.masks is None:
            return self
        return replace(self, masks=fill_masks(self.masks, self.mask_streams, decoded, row), mask_streams=())

    def towards(self, other: Look, u: float) -> Look:
        """The look ``u`` of the way from this one to ``other``: statistics, alpha, colour.

        Statistics are interpolated region by region (AdaIN is affine in them,
        so this is a cross-fade of the transfer, not of the pictures). Masks
        cannot be interpolated: they come from ``other``, and two different mask
        layouts switch half-way (timelines make such a change a cut).
        """
        if len(self.styles) != len(other.styles) or (self.masks is None) != (other.masks is None):
            return other if u >= 0.5 else self
        return Look(
            tuple(mix([a, b], [1.0 - u, u]) for a, b in zip(self.styles, other.styles)),
            _between(self.alpha, other.alpha, u),
            _between(self.preserve_color, other.preserve_color, u),
            other.masks,
            other.color_method,
            other.mask_streams,
        )


def _between(a: float, b: float, u: float) -> float:
    """``u`` of the way from ``a`` to ``b``, never outside them (rounding must not push alpha past 1)."""
    return min(max(a + (b - a) * u, min(a, b)), max(a, b))
