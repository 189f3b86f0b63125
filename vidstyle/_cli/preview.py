"""`vidstyle preview`: a handful of stylized frames in one HTML page, before paying for a render."""
from __future__ import annotations

from pathlib import Path

import click

from ..settings import ModelSettings, SequenceSettings
from . import handle_errors, stderr, warn
from .options import edit_option, model_options, output_options, sequence_options, shots_cache_option, style_options
from .run import style_settings


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@style_options(required=False, style_help=(
    "Style image or saved .style file; repeat to mix styles; STYLE@TIME switches to it at that time."))
@click.option("--timeline", type=click.Path(path_type=Path),
              help="TOML timeline, or an edit (.otio, .edl, .xml) whose markers name styles.")
@click.option("--transition", help="With STYLE@TIME: cross-fade over this long, centred on each time.")
@edit_option
@click.option("--count", type=click.IntRange(min=1), default=12, show_default=True,
              help="Frames at least: keyframes, transition middles and both sides of each cut, then evenly spaced.")
@click.option("--no-shots", is_flag=True, help="Do not look for cuts (no shot strip, no frames at cuts).")
@model_options()
@output_options("The page to write (default: INPUT_preview.html beside it).")
@sequence_options()
@shots_cache_option
@handle_errors
def preview(input_path, styles, weights, alpha, preserve_color, masks, color_method, timeline, transition, edit, count,
            no_shots, size, device, backend, quality, batch, output, overwrite, fps, transfer, shots_cache) -> None:
    """Stylize a few frames chosen along the timeline and write one self-contained HTML page.

    Each frame shows input and result (a slider, or side by side), its
    number, timecode and shot, and the style in force; above them, the shot
    strip and the styles over time. It takes seconds: only those frames are
    rendered.
    """
    from ..preview import preview as make_preview

    style = None if edit is not None and not styles and timeline is None else style_settings(
        styles, weights, alpha, preserve_color, masks, color_method, timeline, transition)
    result = make_preview(
        input_path, output, style, model=ModelSettings(size, device, batch, backend, quality),
        sequence=SequenceSettings(fps, transfer),
        count=count, detect_shots=not no_shots, shots_cache=shots_cache, edit=edit, overwrite=overwrite,
    )
    for warning in result.warnings:
        warn(warning)
    stderr.print(f"wrote {result.output}: {len(result.frames)} frames in {result.seconds:.1f} s")
