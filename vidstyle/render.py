"""Restyle a whole video (or a range of it): the library behind ``vidstyle run``.

Every render takes the same path; a plain one is a timeline of one keyframe::

    FrameReader            decoded batch: frames (B, 3, H, W), their indices and times, mask-video frames
      -> StyleSchedule     one Look per frame (looks_for: pure in the frame's index and time)
      -> Stylizer          encoder -> AdaIN with each frame's look -> decoder (stylize),
         + Temporal        with the temporal stage's hooks around the networks (on by default)
      -> FrameWriter       uint8, encoded with the input's timestamps and audio
                           (or a SequenceWriter: numbered image files at the input's depth)

:func:`stylize_batch` is the model stage between reader and writer; the three
stages overlap in :func:`vidstyle.pipeline.run_pipeline`.

The temporal stage (:class:`~vidstyle.settings.SteadySettings`,
:mod:`vidstyle.temporal`) is the one stage with memory. It starts afresh at
the first frame rendered and at every frame of :func:`reset_frames`: each
shot's first frame (the shot list: an edit's cuts, else detection, cached)
and each timeline cut. A farm chunk renders ``warmup`` frames before its
first without writing them, so that its memory at its first frame is (nearly,
or exactly when a reset falls in the warm-up) what a single run's is.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .errors import SettingsError
from .look import Look
from .masks import MaskedReader, MaskLoader
from .pipeline import run_pipeline
from .settings import EncodeSettings, ModelSettings, SequenceSettings, Span, SteadySettings, StyleSettings
from .stylize import Stylizer, resolve_device
from .temporal import Temporal, TemporalHooks
from .timeline import ResolvedTimeline, StyleSchedule, timeline_for
from .imageio import working_size
from .video import (
    FrameBatch, FrameReader, VideoInfo, default_output_path, default_sequence_output, is_sequence_path, probe, writer_for,
)

__all__ = ["RenderResult", "stylize_video", "stylize_batch", "default_batch", "reset_frames", "Steady",
           "default_preset", "default_encode", "codec_scaling", "CPU_PRESET", "CPU_X264_PARAMS",
           "CPU_LARGE_PRESET", "CPU_LARGE_SCALE", "frame_scale"]

# Colour preservation on video defaults to the method that adds no flicker (see vidstyle.color).
VIDEO_COLOR_METHOD = "luminance"
# The x264 preset when the CPU runs the model: the encoder takes its cycles from
# the model's, and the whole run must keep >= 0.9 of the model's speed
# (benchmarks/RESULTS.md, bench_video: what each preset costs in speed and size).
CPU_PRESET = "veryfast"
# On top of it, libx264's cheapest motion search and no inter partitions below
# 8x8: 16-28% less encoder CPU than plain veryfast at the same PSNR, files -4%
# to +1% (stylized frames, 384x288 and 1080p; benchmarks/RESULTS.md, bench_encoder).
CPU_X264_PARAMS = "me=dia:partitions=i8x8,i4x4"
# Where the frame has at least CPU_LARGE_SCALE times the pixels the network works
# on (720p and up at --size 512, full quality), the CPU gets CPU_LARGE_PRESET instead: the model's
# cost follows the working size, the encoder's the frame's, and there even the tuned
# veryfast holds about 0.8 of the model's speed (median of paired runs at 1080p);
# ultrafast about 0.92, for files 2.0-2.2x larger at 0.4 dB less PSNR
# (benchmarks/RESULTS.md, bench_presets and bench_encoder). `--preset veryfast`
# gives the smaller files back.
CPU_LARGE_SCALE = 4.0
CPU_LARGE_PRESET = "ultrafast"


@dataclass(frozen=True)
class RenderResult:
    """What a finished render produced."""

    output: Path
    frames: int
    seconds: float
    fps: float
    decode_fps: float
    model_fps: float
    encode_fps: float
    warnings: list[str] = field(default_factory=list)
    steady: bool = False  # the temporal stage was on
    warmup_frames: int = 0  # frames rendered before the range to rebuild its memory, not written


def default_batch(device_type: str, size: int) -> int:
    """Frames per batch: a GPU wants several; a CPU gains nothing past 1-2."""
    if device_type == "cuda":
        return max(1, min(16, (1024 // max(size, 1)) ** 2 * 4))
    return 2


def frame_scale(height: int, width: int, size: int, quality: str = "full") -> float:
    """How many pixels of a ``height`` x ``width`` frame each pixel the model stage works on stands for.

    The network works at ``size``; in draft quality the stage also brings its
    result to the full frame (a guided upsampling of every pixel), so there the
    stage's cost follows the frame as the encoder's does, and the scale is 1
    (measured at 640x480: `ultrafast` ran no faster than the tuned `veryfast`).
    """
    if quality == "draft":
        return 1.0
    h, w = working_size(height, width, size)
    return height * width / (h * w)


def default_preset(device_type: str, scale: float = 1.0) -> str:
    """The encoder preset when none is given, for frames of ``scale`` (:func:`frame_scale`).

    ``medium`` beside a GPU; on the CPU :data:`CPU_PRESET`, or :data:`CPU_LARGE_PRESET`
    from a scale of :data:`CPU_LARGE_SCALE`.
    """
    if device_type == "cuda":
        return "medium"
    return CPU_LARGE_PRESET if scale >= CPU_LARGE_SCALE else CPU_PRESET


def default_encode(encode: EncodeSettings, device_type: str, scale: float = 1.0) -> EncodeSettings:
    """``encode`` with the preset chosen by device and frame size when it has none (:func:`default_preset`).

    :data:`CPU_PRESET` comes with :data:`CPU_X264_PARAMS` unless ``encode``
    names its own x264 params; a preset the user gave is used as it is.
    """
    if encode.preset is not None:
        return encode
    preset = default_preset(device_type, scale)
    params = encode.x264_params
    if params is None and preset == CPU_PRESET:
        params = CPU_X264_PARAMS
    return replace(encode, preset=preset, x264_params=params)


def reset_frames(shots: object | None, resolved: ResolvedTimeline) -> frozenset[int]:
    """The frames where the temporal stage starts afresh: each shot's first frame and each timeline cut.

    ``shots`` is a :class:`vidstyle.shots.ShotList` (or None); a timeline cut is
    a keyframe after the first whose change takes no time (``curve = "hold"``,
    ``transition = 0``), at its frame. Besides these, a render starts afresh
    at its first frame, and the stage itself at a frame whose flow from its
    predecessor is mostly inconsistent (a cut the list missed).
    """
    cuts = set(getattr(shots, "cuts", ()) or ())
    cuts |= {k.frame for k in resolved.keyframes[1:] if k.change_start == k.change_end and k.frame > 0}
    return frozenset(cuts)


@dataclass
class Steady:
    """The temporal stage of one render: its memory, and the frames where it starts afresh."""

    state: Temporal
    resets: frozenset[int] = frozenset()

    def hooks(self, batch: FrameBatch, looks: Sequence[Look]) -> TemporalHooks:
        """The stage's hooks for a decoded batch (in order, after the previous one) and its frames' looks."""
        return self.state.hooks(*self._flags(batch, looks))

    def track(self, batch: FrameBatch, looks: Sequence[Look], small: torch.Tensor) -> None:
        """Follow a batch's motion only (flow and grid phase), without the model: a chunk's pre-roll.

        ``small`` is the batch at the working size (:meth:`Stylizer.working`).
        """
        self.state.motion(small, *self._flags(batch, looks))

    def _flags(self, batch: FrameBatch, looks: Sequence[Look]) -> tuple[list[bool], list | None, list[bool]]:
        masks = [look.masks for look in looks] if any(look.masks is not None for look in looks) else None
        return [i in self.resets for i in batch.indices], masks, self.state.regrid(batch.indices)

    def phase_from(self, frame: int) -> int:
        """The last frame at or before ``frame`` where a single run's grid phase starts again.

        Frame 0, a reset (a shot start, a timeline cut) or a multiple of the
        phase period. The phase at ``frame`` depends only on the source's flow
        from there on, so a run that starts at ``frame`` gets a single run's
        phase by following the motion from there (:meth:`track`). Besides
        these, the phase starts again at a cut the flow finds; following the
        motion finds it too.
        """
        s = self.state.settings
        if not s.phase:
            return frame
        return max(0, frame - frame % s.phase_period, *(r for r in self.resets if r <= frame))


def track_batch(stylizer: Stylizer, schedule: StyleSchedule, batch: FrameBatch, steady: Steady) -> None:
    """The temporal stage's flow and grid phase for a batch, without the model (a chunk's pre-roll)."""
    steady.track(batch, schedule.looks_for(batch), stylizer.working(batch.rgb))


def stylize_batch(stylizer: Stylizer, schedule: StyleSchedule, batch: FrameBatch,
                  steady: Steady | None = None) -> torch.Tensor:
    """The model stage of a render: each frame's look from the schedule, then one call to the model.

    With ``steady`` the temporal stage takes part (batches must then come in
    order); without it every frame is stylized on its own (a preview does that).

    Shape:
        ``batch.rgb`` ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` in [0, 1].
    """
    looks = schedule.looks_for(batch)
    return stylizer.stylize(batch.rgb, looks, hooks=None if steady is None else steady.hooks(batch, looks))


def codec_scaling(info: VideoInfo, dest: Path, size: int, quality: str) -> tuple[int, int] | None:
    """``(width, height)`` to decode to and encode from, when FFmpeg's scaler can do both resizes; else None.

    With the network's working size below the frame's, every frame would be
    made a full-size float picture, resized down, and the result resized up
    and converted back to full-size ``uint8``: on a CPU these full-size
    passes took about a fifth of the model's time at 1080p, and as torch ops
    in the reader's and writer's threads they fought the model for its cores
    (``benchmarks/RESULTS.md``, bench_video). Decoding straight to the
    working size and letting the encoder's pixel-format conversion scale back
    up costs a few milliseconds. Draft quality needs the full frame (its
    upsampling is guided by it), and image sequences keep their depth at full
    size, so those keep the full-size path.
    """
    if quality != "full" or is_sequence_path(dest):
        return None
    h, w = working_size(info.height, info.width, size)
    if (h, w) == (info.height, info.width) or h > info.height or w > info.width:
        return None
    return w, h


def _first_frame(info: VideoInfo) -> torch.Tensor:
    """The video's first frame ``(1, 3, H, W)``: the colour reference of "style" mode.

    The whole video's first frame, whatever range is rendered, so a farm
    chunk matches the style images to the same colours as a single run.
    """
    with FrameReader(info.path, info=info) as reader:
        return next(iter(reader.iter_batches(1))).rgb


def _from_edit(edit: str | os.PathLike[str], info: VideoInfo, style: StyleSettings | None):
    """The shot list of an edit's cuts, what to tell about it, and the style settings (its markers by default)."""
    from .editorial import read_edit
    from .video import count_frames

    e = read_edit(edit, info.fps)
    frames = count_frames(info)
    warnings = [*e.warnings, *e.check_length(info.fps, frames)]
    if style is None:
        style = StyleSettings(timeline=edit)
    return e.shot_list(info.fps, frames), warnings, style


def _input_warnings(info: VideoInfo, sequence: SequenceSettings) -> list[str]:
    """What the user should know about how the input was read (a sequence's rate assumed, alpha dropped)."""
    if info.sequence is not None:
        return list(info.sequence.warnings)
    if sequence.fps is not None:
        return [f"{info.path.name} is a video file with its own rate ({float(info.fps):g} fps): "
                "the sequence frame rate was not used"]
    return []


def stylize_video(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    style: StyleSettings | None = None,
    *,
    model: ModelSettings = ModelSettings(),
    encode: EncodeSettings = EncodeSettings(),
    span: Span = Span(),
    sequence: SequenceSettings = SequenceSettings(),
    steady: SteadySettings = SteadySettings(),
    overwrite: bool = False,
    audio: bool = True,
    shots: object | None = None,
    shots_cache: str | os.PathLike[str] | None = None,
    edit: str | os.PathLike[str] | None = None,
    warmup: int = 0,
    stylizer: Stylizer | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> RenderResult:
    """Restyle ``input`` into ``output`` (default: ``<name>_styled.mp4`` beside it).

    ``input`` and ``output`` may be numbered image sequences (``plate.%04d.exr``,
    ``plate.####.dpx``; see :mod:`vidstyle.video.sequence`), in any mix with
    video files; a sequence's default output is ``<name>_styled`` in its format.

    Audio is stream-copied for the rendered range; nothing appears at
    ``output`` until every frame is written and counted. Everything that can
    fail cheaply (the input, the range, the timeline, masks, the encoder
    settings, the destination) fails before the model loads.

    Args:
        style: what to render (:class:`~vidstyle.settings.StyleSettings`):
            styles with their controls, or a timeline. Its warnings (a keyframe
            moved, a mask resized) join the result's.
        model: working size, device and batch.
        encode: codec, quality, preset and pixel format of ``output``.
        span: which part of ``input`` to render.
        sequence: the frame rate and colour of image sequences
            (:class:`~vidstyle.settings.SequenceSettings`).
        steady: temporal consistency (:class:`~vidstyle.settings.SteadySettings`):
            on by default; it needs the shot list (see ``shots``).
        overwrite: replace ``output`` if it exists.
        audio: copy the input's audio into ``output`` (a farm chunk leaves it
            out: the assembled file gets the audio once).
        shots: the video's shot list (:class:`vidstyle.shots.ShotList`): where
            the temporal stage starts afresh, and the shots a timeline's
            keyframes may name; when needed and not given, detected by a
            decode-only pass at 128 px over the whole video (cached in
            ``shots_cache``, by default the user's cache folder).
        edit: an editor's cut of this video (``.otio``, ``.edl``, ``.xml``,
            :mod:`vidstyle.editorial`): its cut points are the shot list, and
            without ``style`` its style markers are the timeline.
        warmup: with ``steady`` on and a range that starts after frame 0:
            render this many frames before it first, without writing them, so
            that the temporal stage's memory at the range's first frame is a
            whole run's (what a farm chunk does; the farm plan picks it).
        stylizer: a loaded :class:`~vidstyle.stylize.Stylizer` to use instead of
            loading one from ``model``.
        on_progress: called as ``(frames_done, frames_total_or_None)`` from the
            writer thread.

    Raises:
        InputError, SettingsError, OutputError, WeightsError, RenderError, OutOfMemoryError.
    """
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise SettingsError(f"the warm-up must be a whole number of frames, at least 0, got {warmup!r}",
                            settings="warmup")
    src = Path(input)
    info = probe(src, sequence)
    edit_warnings: list[str] = []
    if edit is not None:
        shots, edit_warnings, style = _from_edit(edit, info, style)
    if style is None:
        style = StyleSettings()  # raises: what to render is the one thing without a default
    if output is not None:
        dest = Path(output)
    else:
        dest = default_output_path(src, codec=encode.codec) if info.sequence is None else default_sequence_output(src)
    working = (stylizer.size, stylizer.quality) if stylizer is not None else (model.working_size, model.quality)
    scale_to = codec_scaling(info, dest, *working)
    reader = FrameReader(src, span, info=info, scale_to=scale_to)
    timeline = timeline_for(style, info.fps)
    if shots is None and (timeline.uses_shots or steady.on):
        # A timeline that names shots, and the temporal stage (which starts
        # afresh at every cut), pay for the detection pass; the list is
        # cached, so the farm's plan and any later run get the same one.
        from .shots import shots_for

        shots = shots_for(src, device=model.device, cache_dir=shots_cache, sequence=sequence)
    resolved = timeline.resolve(info.fps, info.frame_count, shots)
    # Masks (stills and mask videos) are checked against the input here, each file once.
    masks = MaskLoader((info.height, info.width), info)
    mask_sets = {k.keyframe.masks: masks.load(k.keyframe.masks, k.keyframe.where)
                 for k in resolved.keyframes if k.keyframe.masks}
    source = MaskedReader(reader, masks.videos) if masks.videos else reader
    if encode.preset is None and not is_sequence_path(dest):
        device = stylizer.device if stylizer is not None else resolve_device(model.device)
        encode = default_encode(encode, device.type, frame_scale(info.height, info.width, *working))
    writer = writer_for(dest, info, encode, overwrite=overwrite, range=reader.range, audio=audio, sequence=sequence)

    stylizer = stylizer or Stylizer(model.device, model.size, backend=model.backend, quality=model.quality)
    reference = _first_frame(info) if style.color_mode == "style" else None
    # The style images are encoded here, once for the whole video.
    schedule = StyleSchedule.build(resolved, lambda path: stylizer.load_style(path, reference), mask_sets,
                                   style.color_method or VIDEO_COLOR_METHOD)
    total = reader.expected_frames
    batch_size = model.batch or default_batch(stylizer.device.type, stylizer.size)
    temporal = Steady(Temporal(steady.temporal()), reset_frames(shots, resolved)) if steady.on else None
    process = functools.partial(stylize_batch, stylizer, schedule, steady=temporal)

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    warm = 0
    if temporal is not None:
        warm = _warm_up(src, info, reader.range.first, warmup, masks.videos, process, batch_size, scale_to,
                        functools.partial(track_batch, stylizer, schedule, steady=temporal), temporal.phase_from)
    with source, writer:
        stats = run_pipeline(
            source, process, writer, batch_size, progress, pin_memory=stylizer.device.type == "cuda",
        )
        # Whatever the container claimed, every decoded frame must be written.
        writer.expected_frames = reader.frames_read
    return RenderResult(
        output=dest,
        frames=stats.frames,
        seconds=stats.seconds,
        fps=stats.fps,
        decode_fps=stats.decode_fps,
        model_fps=stats.model_fps,
        encode_fps=stats.encode_fps,
        warnings=[*_input_warnings(info, sequence), *edit_warnings, *resolved.warnings, *masks.warnings, *writer.warnings,
                  *stylizer.warnings],
        steady=temporal is not None,
        warmup_frames=warm,
    )


def _warm_up(src: Path, info: VideoInfo, first: int, frames: int, mask_videos: dict, process: Callable,
             batch_size: int, scale_to: tuple[int, int] | None, track: Callable | None = None,
             phase_from: Callable[[int], int] | None = None) -> int:
    """Stylize the ``frames`` frames before ``first`` (not written): the temporal stage's memory for ``first``.

    Before those, where the grid phase at the warm-up's first frame depends
    on earlier frames (``phase_from``), the frames from the batch that holds
    its last restart are followed with ``track`` (flow only, no model), so
    that the whole warm-up runs at a single run's phase. Returns how many
    frames were stylized (fewer at the start of the video).
    """
    start = max(0, first - frames)
    if start >= first:
        return 0
    since = start if phase_from is None or track is None else phase_from(start) // batch_size * batch_size
    # One reader for the pre-roll and the warm-up: a second would decode again from the keyframe before `start`.
    reader = FrameReader(src, Span(frames=(since, first)), info=info, scale_to=scale_to)
    source = MaskedReader(reader, mask_videos) if mask_videos else reader
    with source:
        for batch in source.iter_batches(batch_size):
            followed = sum(i < start for i in batch.indices)
            if followed:
                track(batch.part(0, followed))
            if followed < len(batch.indices):
                process(batch.part(followed, len(batch.indices)))
    return first - start
