"""Settings as values: what to render, how to run the model, how to encode, which part of the input.

Four frozen dataclasses carry every choice from the caller to the stage that
needs it: the CLI builds them from its options, a farm job from its TOML keys,
a Python caller directly; :func:`vidstyle.stylize_video`, :func:`vidstyle.stylize_image`
and the farm plan take them as they are. Their defaults are defined here and
nowhere else (the network at 512 px, libx264 at crf 18, the preset by device).

Each checks its values when it is made, so a settings value that exists is a
valid one; errors name the setting (``settings`` on the exception) so the CLI
can point at its flag. What needs the input or the encoder to check (a codec
in this FFmpeg build, a range inside the video) is checked before the model
loads, by the render.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Union

from .color import METHODS as COLOR_METHODS
from .errors import SettingsError
from .look import check_alpha, check_mask_count, check_weights, color_mode

if TYPE_CHECKING:
    from .timeline import Timeline

__all__ = ["StyleSettings", "ModelSettings", "EncodeSettings", "Span", "SequenceSettings", "SteadySettings", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]
DEVICES = ("auto", "cpu", "cuda")
# How the pixel values of an image sequence encode light (see SequenceSettings).
TRANSFERS = ("auto", "linear", "display")
# The smallest working size: the encoder pools 3 times, and below this the
# statistics of relu4_1 (64 x 64 px -> 8 x 8 features) mean little.
MIN_SIZE = 64
# Where the networks run (vidstyle.backends) and how finely (vidstyle.draft).
BACKENDS = ("auto", "torch", "bf16", "onnx")
QUALITIES = ("full", "draft")


def _tuples(obj: Any, *names: str) -> None:
    """Let callers pass lists where a frozen value keeps tuples."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, list):
            object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True)
class StyleSettings:
    """What to render: styles with their controls, or a timeline that sets them per keyframe.

    Args:
        styles: style images or saved ``.style`` files.
        weights: one per style, summing to 1 (the styles' statistics are mixed);
            None: equal weights.
        alpha: content/style trade-off on the features, in [0, 1].
        preserve_color: False, True or ``"output"`` (the result's colours are
            matched to each frame's), ``"style"`` (the style image's colours are
            matched to the content before its statistics are taken; for a video,
            to its first frame).
        masks: greyscale masks (images, or mask videos for a video): one per
            style, or one fewer (the last style fills the rest); one mask for one
            style leaves the rest to the content. Cannot go with ``weights``.
        color_method: how colours are preserved (:data:`vidstyle.color.METHODS`);
            None: ``"luminance"`` for a video (steady), ``"histogram"`` for a still.
        timeline: a TOML timeline file or a :class:`~vidstyle.timeline.Timeline`,
            instead of all of the above but ``color_method``.

    Raises:
        SettingsError: naming the setting.
    """

    styles: tuple[PathLike, ...] = ()
    weights: tuple[float, ...] | None = None
    alpha: float = 1.0
    preserve_color: bool | str = False
    masks: tuple[PathLike, ...] = ()
    color_method: str | None = None
    timeline: PathLike | Timeline | None = None

    def __post_init__(self) -> None:
        _tuples(self, "styles", "weights", "masks")
        if self.timeline is not None:
            # The one place this rule lives: a timeline sets the look per keyframe.
            given = [name for name, set_ in (
                ("styles", bool(self.styles)), ("weights", self.weights is not None), ("alpha", self.alpha != 1.0),
                ("preserve_color", bool(self.preserve_color)), ("masks", bool(self.masks)),
            ) if set_]
            if given:
                raise SettingsError(
                    f"a timeline sets styles, weights, alpha, colour and masks per keyframe: leave out {', '.join(given)}",
                    settings=("timeline", *given),
                )
        elif not self.styles:
            raise SettingsError("give at least one style, or a timeline", settings=("styles", "timeline"))
        check_alpha(self.alpha)
        if self.weights is not None:
            check_weights(self.weights, len(self.styles))
        if self.masks:
            if self.weights is not None:
                raise SettingsError("style weights and masks cannot be combined: each mask region takes one style",
                                    settings=("weights", "masks"))
            check_mask_count(len(self.masks), len(self.styles))
        color_mode(self.preserve_color)
        if self.color_method is not None and self.color_method not in COLOR_METHODS:
            raise SettingsError(f"unknown colour method {self.color_method!r}: use {' or '.join(COLOR_METHODS)}",
                                settings="color_method")

    @property
    def color_mode(self) -> str | None:
        """None, ``"output"`` or ``"style"`` (see ``preserve_color``)."""
        return color_mode(self.preserve_color)


@dataclass(frozen=True)
class ModelSettings:
    """How to run the model.

    Args:
        size: the longest side, in pixels, the network works at (the output
            keeps the input's size); at least 64.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"`` (``"cuda:1"``...).
        batch: frames per model call; None: what the device does best
            (:func:`vidstyle.render.default_batch`).
        backend: where the networks run (:mod:`vidstyle.backends`): ``"torch"``
            (float32, the reference), ``"bf16"`` (torch bf16, fast with AMX),
            ``"onnx"`` (int8 on ONNX Runtime, CPU), ``"auto"`` (the fastest of
            them that this machine has).
        quality: ``"full"``, or ``"draft"``: the network at three eighths of
            ``size`` (192 px for 512) and the result brought to full size guided
            by the full frame (:mod:`vidstyle.draft`): about 4-6x faster, for
            previews and slow machines.
    """

    size: int = 512
    device: str = "auto"
    batch: int | None = None
    backend: str = "auto"
    quality: str = "full"

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < MIN_SIZE:
            raise SettingsError(f"the working size must be a whole number of at least {MIN_SIZE} pixels, "
                                f"got {self.size!r}", settings="size")
        if str(self.device).split(":")[0] not in DEVICES:
            raise SettingsError(f"unsupported device {self.device!r}: use auto, cpu or cuda", settings="device")
        if self.batch is not None and (isinstance(self.batch, bool) or not isinstance(self.batch, int)
                                       or self.batch < 1):
            raise SettingsError(f"the batch must be a whole number of at least 1 frame, got {self.batch!r}",
                                settings="batch")
        if self.backend not in BACKENDS:
            raise SettingsError(f"unknown backend {self.backend!r}: use {', '.join(BACKENDS)}", settings="backend")
        if self.quality not in QUALITIES:
            raise SettingsError(f"unknown quality {self.quality!r}: use {' or '.join(QUALITIES)}", settings="quality")

    @property
    def working_size(self) -> int:
        """The longest side the network works at: ``size``, or three eighths of it in draft quality.

        Three eighths, not a half: at 640x480 the guided upsampling from 192 px
        still keeps more of the scene than the full network at 512 (structure
        0.756 against 0.864; 0.728 from 256 px), and the whole run reaches 10
        frames per second on a 2-core CPU with steady video on (7.5 from 256 px;
        ``benchmarks/RESULTS.md``, issue 17).
        """
        return max(MIN_SIZE, self.size * 3 // 8) if self.quality == "draft" else self.size


@dataclass(frozen=True)
class EncodeSettings:
    """How to encode a video.

    Args:
        codec: libx264, libx265, libvpx-vp9, libsvtav1/libaom-av1, prores_ks, or
            the aliases h264, hevc, vp9, av1, prores (checked against this
            FFmpeg build by the writer).
        crf: constant quality: lower is better and bigger (ignored by ProRes).
        preset: x264 speed preset name; mapped for VP9 and AV1. None: ``medium``
            beside a GPU, :data:`vidstyle.render.CPU_PRESET` when the CPU runs the
            model too, :data:`vidstyle.render.CPU_LARGE_PRESET` there for frames of
            at least 4x the working size's pixels in full quality
            (:func:`vidstyle.render.default_preset`, :func:`vidstyle.render.frame_scale`).
        pix_fmt: encoder pixel format; None: 4:2:0 (4:4:4 for odd sizes),
            10-bit 4:2:2 for ProRes.
        x264_params: libx264's own options on top of the preset, as
            ``x264 --x264-params`` takes them (``"me=dia:partitions=i8x8,i4x4"``);
            other encoders ignore them, and so does FFmpeg (with a warning in
            its log) a key x264 does not know. None: none, except that a render which
            picks the preset itself on the CPU adds
            :data:`vidstyle.render.CPU_X264_PARAMS` (:func:`vidstyle.render.default_encode`).
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str | None = None
    pix_fmt: str | None = None
    x264_params: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or self.crf < 0:
            raise SettingsError(f"crf must be a whole number of at least 0, got {self.crf!r}", settings="crf")
        if self.x264_params is not None and (not isinstance(self.x264_params, str) or not self.x264_params.strip()
                                             or any(c.isspace() for c in self.x264_params)):
            raise SettingsError(f"x264 params must be key=value pairs joined by ':' with no spaces, got "
                                f"{self.x264_params!r}", settings="x264_params")


@dataclass(frozen=True)
class Span:
    """Which part of the input to render: times ``[start, end)`` or frames ``[A, B)``; by default all of it.

    Times are seconds or timecodes (``"62.5"``, ``"00:01:02.5"``, SMPTE
    ``"00:01:02:12"``) counted from the first frame; ``frames`` is ``(A, B)`` or
    ``"A:B"``. They are placed on the video's frames exactly when it is opened.
    """

    start: str | float | None = None
    end: str | float | None = None
    frames: tuple[int, int] | str | None = None

    def __post_init__(self) -> None:
        _tuples(self, "frames")
        if self.frames is not None and (self.start is not None or self.end is not None):
            raise SettingsError("give either a frame range or start/end times, not both",
                                settings=("frames", "start", "end"))

    @property
    def whole(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class SequenceSettings:
    """How numbered image sequences (``plate.%04d.exr``, ``plate.####.dpx``) are read and written.

    Video files ignore it: they carry their own rate, and are display-referred.

    Args:
        fps: the frame rate of an input sequence (its frames carry none): a
            number, a fraction or ``"24000/1001"``. None: 24 fps, with a warning.
        transfer: what a sequence's pixel values are. ``"auto"``: EXR files are
            scene-linear, DPX, PNG and TIFF display-referred; ``"linear"``: every
            sequence is scene-linear; ``"display"``: none is (an EXR that already
            holds display-referred values). Scene-linear pixels are converted to
            display-referred (the sRGB curve) for the network, and back on writing.
    """

    fps: Fraction | float | str | None = None
    transfer: str = "auto"

    def __post_init__(self) -> None:
        if self.fps is not None:
            try:
                fps = Fraction(str(self.fps)) if not isinstance(self.fps, Fraction) else self.fps
            except (ValueError, ZeroDivisionError):
                fps = None
            if isinstance(self.fps, bool) or fps is None or fps <= 0 or fps > 1000:
                raise SettingsError(f"the frame rate must be a positive number such as 24, 25 or 24000/1001, "
                                    f"got {self.fps!r}", settings="fps")
            object.__setattr__(self, "fps", fps)
        if self.transfer not in TRANSFERS:
            raise SettingsError(f"unknown transfer {self.transfer!r}: use {', '.join(TRANSFERS)}", settings="transfer")

    def to_dict(self) -> dict[str, str | None]:
        """As JSON values (a farm plan keeps it)."""
        return {"fps": None if self.fps is None else str(self.fps), "transfer": self.transfer}


@dataclass(frozen=True)
class SteadySettings:
    """Temporal consistency of a video render (:mod:`vidstyle.temporal`): on by default.

    A feed-forward stylizer paints every frame on its own, so texture crawls
    on things that stand still. Steadied, each frame is moved to the phase of
    the network's grid the scene had in the previous frame (so a camera move
    does not make the network draw other strokes), and its features and
    picture are blended with the previous frame's, carried along the
    source's optical flow, where the flow can be trusted; every cut (the shot
    list, a timeline cut, the start of the rendered range) starts afresh.
    Stills never use it.

    Args:
        enabled: False: every frame stylized on its own (the output of
            vidstyle before this stage, exactly).
        strength: in [0, 1]: how much of the past is kept. 1 is the measured
            default (the previous frame's features weigh 0.9, its picture 0.8,
            0.85 where the source stands still, where the flow is trusted,
            less where the decoder's new strokes are far from the past's
            or where the camera zooms,
            and a still background's strokes are copied where they are
            redrawn within 0.04); the weights and that tolerance scale with
            it (the grid phase lock stays on at any strength above 0); 0 is off.
        carry: also copy the past along the camera where a camera model (a
            pan and a zoom) fitted to the flow explains the source
            (:attr:`vidstyle.temporal.TemporalSettings.carry`, its tolerance
            scaled by the strength; a frame where the camera zooms copies
            nothing). Experimental. Over the first 24 frames of a shot it is
            steadier (the sample clips at 1.67, 1.50 and 1.58 times the
            source's flicker against the default's 2.19, 1.99 and 1.71, for
            structure up to 4.2% and a style fraction up to 5.2% from
            unsteadied), but a copy never forgets and its cost grows with the
            shot: over 144 frames of a fixed camera the structure moved 4.2%
            from unsteadied (5.1% and the style fraction 14.9% in the last 24
            frames; the default 1.8% and -0.9% over the shot), and over 144
            frames of a camera move 14% and the style fraction 19% (33% in
            the last 24 frames), for hardly any steadiness there (1.91
            against 2.00). The whole memory also starts again every
            ``phase_period`` frames (240), a visible redraw, so that a farm
            chunk can match a single render exactly. Off by default
            (benchmarks/RESULTS-flicker.md, carry-zoom-512 and
            long-512-carry-zoom).
    """

    enabled: bool = True
    strength: float = 1.0
    carry: bool = False

    # The weights at strength 1 (benchmarks/RESULTS-flicker.md).
    FEATURES = 0.9
    OUTPUT = 0.8
    CARRY = 0.02  # the carry's tolerance (TemporalSettings.carry) at strength 1

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise SettingsError(f"steady must be true or false, got {self.enabled!r}", settings="steady")
        s = self.strength
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
            raise SettingsError(f"the steady strength must be a number between 0 and 1, got {s!r}",
                                settings="steady_strength")
        object.__setattr__(self, "strength", float(s))
        if not isinstance(self.carry, bool):
            raise SettingsError(f"steady carry must be true or false, got {self.carry!r}", settings="steady_carry")

    @property
    def on(self) -> bool:
        """True when frames are steadied at all."""
        return self.enabled and self.strength > 0

    def temporal(self):
        """The temporal stage's own settings (:class:`vidstyle.temporal.TemporalSettings`) for these."""
        from .temporal import TemporalSettings

        if not self.on:
            return TemporalSettings.off()
        # The still pixels' weight and copy tolerance scale too, so that a lower strength keeps less of the
        # past everywhere.
        still = TemporalSettings.still_output * self.strength
        return TemporalSettings(features=self.FEATURES * self.strength, output=self.OUTPUT * self.strength,
                                still_output=still, still_copy=TemporalSettings.still_copy * self.strength,
                                carry=self.CARRY * self.strength if self.carry else 0.0)
