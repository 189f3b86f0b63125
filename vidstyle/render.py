"""Restyle a whole video (or a range of it): the library behind ``vidstyle run``."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SettingsError
from .pipeline import PipelineStats, run_pipeline
from .still import fit_masks
from .stylize import DEFAULT_SIZE, Stylizer, check_alpha, check_weights, load_masks
from .video import FrameReader, FrameWriter, default_output_path, probe

__all__ = ["RenderResult", "stylize_video", "default_batch"]


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
    styles: Sequence[str | os.PathLike[str]],
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
) -> RenderResult:
    """Restyle ``input`` after ``styles`` into ``output`` (default: ``<name>_styled.mp4`` beside it).

    Audio is stream-copied for the rendered range; nothing appears at
    ``output`` until every frame is written and counted.

    Args:
        on_progress: called as ``(frames_done, frames_total_or_None)`` from the
            writer thread.

    Raises:
        InputError, SettingsError, OutputError, WeightsError, RenderError.
    """
    alpha = check_alpha(alpha)
    if weights is not None:
        check_weights(weights, len(styles))
    if batch is not None and batch < 1:
        raise SettingsError(f"--batch must be at least 1, got {batch}")
    src = Path(input)
    info = probe(src)
    dest = Path(output) if output is not None else default_output_path(src, codec=codec)

    # Everything that can fail cheaply fails before the model is loaded.
    reader = FrameReader(src, start=start, end=end, frames=frames, info=info)
    writer = FrameWriter(
        dest, info, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, overwrite=overwrite, range=reader.range
    )
    stylizer = stylizer or Stylizer(device=device, size=size)
    mask_t = None
    if masks:
        mask_t = fit_masks(load_masks(masks), (info.height, info.width), [str(m) for m in masks])
    # The style images are encoded here, once for the whole video.
    look = stylizer.look(list(styles), weights, alpha, preserve_color, mask_t)
    n = batch or default_batch(stylizer.device.type, stylizer.size)
    total = reader.expected_frames

    def process(rgb):
        return stylizer.stylize(rgb, look)

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    with reader, writer:
        stats: PipelineStats = run_pipeline(
            reader, process, writer, n, progress, pin_memory=stylizer.device.type == "cuda"
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
        warnings=list(writer.warnings),
    )
