"""Restyle a whole video (or a range of it): the library behind ``vidstyle run``.

Every render takes the same path; a plain one is a timeline of one keyframe::

    FrameReader            decoded batch: frames (B, 3, H, W), their indices and times, mask-video frames
      -> StyleSchedule     one Look per frame (looks_for: pure in the frame's index and time)
      -> Stylizer          encoder -> AdaIN with each frame's look -> decoder (stylize)
      -> FrameWriter       uint8, encoded with the input's timestamps and audio
                           (or a SequenceWriter: numbered image files at the input's depth)

:func:`stylize_batch` is the model stage between reader and writer; the three
stages overlap in :func:`vidstyle.pipeline.run_pipeline`.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .masks import MaskedReader, MaskLoader
from .pipeline import run_pipeline
from .settings import EncodeSettings, ModelSettings, SequenceSettings, Span, StyleSettings
from .stylize import Stylizer, resolve_device
from .timeline import StyleSchedule, timeline_for
from .video import (
    FrameBatch, FrameReader, VideoInfo, default_output_path, default_sequence_output, is_sequence_path, probe, writer_for,
)

__all__ = ["RenderResult", "stylize_video", "stylize_batch", "default_batch", "default_preset", "CPU_PRESET"]

# Colour preservation on video defaults to the method that adds no flicker (see vidstyle.color).
VIDEO_COLOR_METHOD = "luminance"
# The x264 preset when the CPU runs the model: the encoder takes its cycles from
# the model's, and the whole run must keep >= 0.9 of the model's speed
# (benchmarks/RESULTS.md, bench_video: what each preset costs in speed and size).
CPU_PRESET = "veryfast"


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


def default_batch(device_type: str, size: int) -> int:
    """Frames per batch: a GPU wants several; a CPU gains nothing past 1-2."""
    if device_type == "cuda":
        return max(1, min(16, (1024 // max(size, 1)) ** 2 * 4))
    return 2


def default_preset(device_type: str) -> str:
    """The encoder preset when none is given: ``medium`` beside a GPU, :data:`CPU_PRESET` on the CPU."""
    return "medium" if device_type == "cuda" else CPU_PRESET


def stylize_batch(stylizer: Stylizer, schedule: StyleSchedule, batch: FrameBatch) -> torch.Tensor:
    """The model stage of a render: each frame's look from the schedule, then one call to the model.

    Shape:
        ``batch.rgb`` ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` in [0, 1].
    """
    return stylizer.stylize(batch.rgb, schedule.looks_for(batch))


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
    overwrite: bool = False,
    audio: bool = True,
    shots: object | None = None,
    shots_cache: str | os.PathLike[str] | None = None,
    edit: str | os.PathLike[str] | None = None,
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
        overwrite: replace ``output`` if it exists.
        audio: copy the input's audio into ``output`` (a farm chunk leaves it
            out: the assembled file gets the audio once).
        shots: the video's shot list (:class:`vidstyle.shots.ShotList`) for a
            timeline whose keyframes name shots; detected (and cached in
            ``shots_cache``, by default the user's cache folder) when not given.
        edit: an editor's cut of this video (``.otio``, ``.edl``, ``.xml``,
            :mod:`vidstyle.editorial`): its cut points are the shot list, and
            without ``style`` its style markers are the timeline.
        stylizer: a loaded :class:`~vidstyle.stylize.Stylizer` to use instead of
            loading one from ``model``.
        on_progress: called as ``(frames_done, frames_total_or_None)`` from the
            writer thread.

    Raises:
        InputError, SettingsError, OutputError, WeightsError, RenderError, OutOfMemoryError.
    """
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
    reader = FrameReader(src, span, info=info)
    timeline = timeline_for(style, info.fps)
    if timeline.uses_shots and shots is None:
        # Only a timeline that names shots pays for the detection pass; the list
        # is cached, so the farm's plan and any later run get the same one.
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
        encode = replace(encode, preset=default_preset(device.type))
    writer = writer_for(dest, info, encode, overwrite=overwrite, range=reader.range, audio=audio, sequence=sequence)

    stylizer = stylizer or Stylizer(model.device, model.size, backend=model.backend, quality=model.quality)
    reference = _first_frame(info) if style.color_mode == "style" else None
    # The style images are encoded here, once for the whole video.
    schedule = StyleSchedule.build(resolved, lambda path: stylizer.load_style(path, reference), mask_sets,
                                   style.color_method or VIDEO_COLOR_METHOD)
    total = reader.expected_frames

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    with source, writer:
        stats = run_pipeline(
            source, functools.partial(stylize_batch, stylizer, schedule), writer,
            model.batch or default_batch(stylizer.device.type, stylizer.size), progress,
            pin_memory=stylizer.device.type == "cuda",
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
    )
