"""Restyle a whole video (or a range of it): the library behind ``vidstyle run``."""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .color import METHODS as COLOR_METHODS
from .errors import SettingsError
from .masks import MaskedReader, MaskLoader, MaskSet, fill
from .pipeline import PipelineStats, run_pipeline
from .stylize import DEFAULT_SIZE, Stylizer, check_alpha, check_weights
from .timeline import ResolvedTimeline, StyleSchedule, Timeline, load_timeline
from .video import FrameReader, FrameWriter, default_output_path, probe

__all__ = ["RenderResult", "stylize_video", "default_batch", "build_schedule"]


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


def stylize_video(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    styles: Sequence[str | os.PathLike[str]] = (),
    weights: Sequence[float] | None = None,
    alpha: float = 1.0,
    preserve_color: bool = False,
    masks: Sequence[str | os.PathLike[str]] | None = None,
    size: int = DEFAULT_SIZE,
    device: str = "auto",
    batch: int | None = None,
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "medium",
    pix_fmt: str | None = None,
    start: str | float | None = None,
    end: str | float | None = None,
    frames: tuple[int, int] | str | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
    stylizer: Stylizer | None = None,
    timeline: "str | os.PathLike[str] | Timeline | None" = None,
    color_method: str = "luminance",
    shots: object | None = None,
    audio: bool = True,
) -> RenderResult:
    """Restyle ``input`` after ``styles`` into ``output`` (default: ``<name>_styled.mp4`` beside it).

    Audio is stream-copied for the rendered range; nothing appears at
    ``output`` until every frame is written and counted.

    Args:
        timeline: a TOML timeline file or a :class:`~vidstyle.timeline.Timeline`
            (style changing over time), instead of ``styles``/``weights``/
            ``alpha``/``preserve_color``/``masks``. It is checked against the
            video before the model loads; its warnings join the result's.
        masks: greyscale mask images, or mask videos with one frame per frame
            of ``input`` (decoded in step with it): one per style, or one fewer.
            A mask of another size is resized, with a warning in the result.
        color_method: how ``preserve_color`` (and a timeline's) keeps the
            content's colours: ``"luminance"`` (default: steady on video) or
            ``"histogram"`` (per-frame histogram matching, as for stills); see
            :mod:`vidstyle.color`.
        on_progress: called as ``(frames_done, frames_total_or_None)`` from the
            writer thread.
        shots: the video's shot list (:class:`vidstyle.shots.ShotList`) for a
            timeline whose keyframes name shots; a farm plan passes the one it
            stored so every chunk places them alike.
        audio: copy the input's audio into ``output`` (a farm chunk leaves it
            out: the assembled file gets the audio once).

    Raises:
        InputError, SettingsError, OutputError, WeightsError, RenderError.
    """
    alpha = check_alpha(alpha)
    if timeline is not None:
        if styles or weights is not None or masks or alpha != 1.0 or preserve_color:
            raise SettingsError(
                "give either a timeline or styles (with weights, alpha, colour and masks), not both: "
                "set those per keyframe in the timeline"
            )
    elif not styles:
        raise SettingsError("give at least one style (--style) or a timeline (--timeline)")
    if weights is not None:
        check_weights(weights, len(styles))
    if batch is not None and batch < 1:
        raise SettingsError(f"--batch must be at least 1, got {batch}")
    if masks and styles:
        k, n = len(masks), len(styles)
        if weights is not None:
            raise SettingsError("--style-weights and --mask cannot be combined: each mask region takes one style")
        if not (k == n or k == n - 1):
            raise SettingsError(f"{k} masks for {n} styles: give one mask per style, or one fewer (the last style fills the rest)")
    if color_method not in COLOR_METHODS:
        raise SettingsError(f"unknown colour method {color_method!r}: use {' or '.join(COLOR_METHODS)}")
    src = Path(input)
    info = probe(src)
    dest = Path(output) if output is not None else default_output_path(src, codec=codec)

    # Everything that can fail cheaply fails before the model is loaded.
    reader = FrameReader(src, start=start, end=end, frames=frames, info=info)
    resolved = None
    if timeline is not None:
        tl = timeline if isinstance(timeline, Timeline) else load_timeline(timeline)
        if tl.uses_shots and shots is None:
            # Only a timeline that names shots pays for the detection pass; the
            # list is cached beside the input, so the farm's plan and any later
            # run get the same one.
            from .shots import shots_for

            shots = shots_for(src, device=device)
        resolved = tl.resolve(info.fps, info.frame_count, shots)
    # Masks (stills and mask videos) are checked against the input here, each file once.
    mask_loader = MaskLoader(info)
    mask_set = mask_loader.load(list(masks)) if resolved is None and masks else None
    mask_sets = {} if resolved is None else {
        k.keyframe.masks: mask_loader.load(k.keyframe.masks, k.keyframe.where)
        for k in resolved.keyframes if k.keyframe.masks
    }
    source = MaskedReader(reader, mask_loader.videos) if mask_loader.videos else reader
    writer = FrameWriter(
        dest, info, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, overwrite=overwrite, range=reader.range,
        audio=audio,
    )
    stylizer = stylizer or Stylizer(device=device, size=size)
    n = batch or default_batch(stylizer.device.type, stylizer.size)
    total = reader.expected_frames
    if resolved is None:
        # The style images are encoded here, once for the whole video.
        look = stylizer.look(list(styles), weights, alpha, preserve_color,
                             None if mask_set is None else mask_set.stills, color_method=color_method)
        if mask_set is not None:
            look = replace(look, mask_streams=mask_set.streams)

        def process(batch):
            return stylizer.stylize(batch.rgb, fill(look, getattr(batch, "masks", {})))
    else:
        schedule = build_schedule(resolved, stylizer, mask_sets)

        def process(batch):
            decoded = getattr(batch, "masks", {})
            states = [fill(schedule.state_at(i, t), decoded, j) for j, (i, t) in enumerate(zip(batch.indices, batch.times))]
            return stylizer.stylize_states(batch.rgb, states, color_method)

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    with source, writer:
        stats: PipelineStats = run_pipeline(
            source, process, writer, n, progress, pin_memory=stylizer.device.type == "cuda", with_batch=True,
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
        warnings=[*(resolved.warnings if resolved is not None else ()), *mask_loader.warnings, *writer.warnings],
    )


def build_schedule(
    resolved: ResolvedTimeline, stylizer: Stylizer, masks: Mapping[tuple, MaskSet] | None = None
) -> StyleSchedule:
    """Statistics for a resolved timeline: each style file encoded once.

    ``masks`` maps each keyframe's mask paths to its :class:`~vidstyle.masks.MaskSet`
    (loaded and checked against the video by :class:`~vidstyle.masks.MaskLoader`).
    """
    masks = masks or {}

    def look(stats, mask_paths):
        mset = masks[tuple(mask_paths)]
        return replace(stylizer.look(stats, None, 1.0, False, mset.stills), mask_streams=mset.streams)

    return StyleSchedule.build(resolved, stylizer.load_style, look)
