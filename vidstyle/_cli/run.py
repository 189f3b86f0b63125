"""`vidstyle run`: restyle a whole video (or a range), with a progress bar."""
from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import SettingsError
from . import handle_errors, parse_weights, stderr
from .image import device_option, size_option, style_options


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@style_options(required=False, style_help=(
    "Style image or saved .style file; repeat to mix styles. STYLE@TIME (b.jpg@12s, b.jpg@00:01:02, b.jpg@300f) "
    "switches to it at that time instead."))
@click.option("--timeline", type=click.Path(path_type=Path), help="TOML timeline: styles, alpha and colour by keyframe (see examples/timeline.toml).")
@click.option("--transition", help="With STYLE@TIME: cross-fade over this long, centred on each time (e.g. 2s); default a cut.")
@click.option("--color-method", type=click.Choice(["luminance", "histogram"]), default="luminance", show_default=True,
              help="How --preserve-color keeps the content's colours on video: luminance (the result's lightness, "
                   "the frame's colour: adds no flicker) or histogram (per-frame histogram matching, as for images).")
@size_option
@device_option
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output video (default: INPUT_styled.mp4 beside it).")
@click.option("--batch", type=int, help="Frames per batch (default: 2 on CPU, more on a GPU).")
@click.option("--codec", default="libx264", show_default=True, help="libx264, libx265, libvpx-vp9, libsvtav1/libaom-av1, prores_ks.")
@click.option("--crf", type=int, default=18, show_default=True, help="Constant quality: lower is better and bigger.")
@click.option("--preset", default="medium", show_default=True, help="Encoder speed preset (x264 names).")
@click.option("--pix-fmt", help="Encoder pixel format (default: yuv420p; yuv444p for odd sizes).")
@click.option("--start", help="Start time: seconds, HH:MM:SS.sss or HH:MM:SS:FF.")
@click.option("--end", help="End time (exclusive), same forms as --start.")
@click.option("--frames", "frame_range", help="Frame range A:B (half-open), instead of --start/--end.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace the output if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@handle_errors
def run(
    input_path, styles, style_weights, alpha, preserve_color, masks, timeline, transition, color_method, size, device, output,
    batch, codec, crf, preset, pix_fmt, start, end, frame_range, overwrite, quiet, as_json,
) -> None:
    """Restyle a video after one or more style images; audio is copied untouched.

    Styles can change over time: --style a.jpg --style b.jpg@12s --transition 2s
    cross-fades from a to b between 11 s and 13 s; --timeline t.toml sets
    styles, weights, alpha and colour per keyframe.
    """
    from ..render import stylize_video
    from ..timeline import parse_duration, timeline_from_styles

    common = dict(color_method=color_method, size=size, device=device, batch=batch, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
                  start=start, end=end, frames=frame_range, overwrite=overwrite)
    if timeline is not None:
        if styles or style_weights or masks or alpha != 1.0 or preserve_color or transition:
            raise SettingsError("--timeline sets styles, weights, alpha, colour and masks per keyframe: "
                                   "leave out --style, --style-weights, --alpha, --preserve-color, --mask and --transition")
        kwargs = dict(timeline=timeline, **common)
    else:
        if not styles:
            raise SettingsError("give at least one --style (or a --timeline)")
        seconds = None if transition is None else parse_duration(transition, "--transition")
        if preserve_color == "style" and any("@" in str(s) for s in styles):
            raise SettingsError("--preserve-color-mode style cannot follow styles over time: use output")
        shorthand = timeline_from_styles(styles, seconds, alpha, bool(preserve_color))
        if shorthand is not None:
            if style_weights or masks:
                raise SettingsError("STYLE@TIME switches styles over time: --style-weights and --mask "
                                       "need a --timeline file to say which keyframe they belong to")
            kwargs = dict(timeline=shorthand, **common)
        else:
            kwargs = dict(
                styles=list(styles), weights=parse_weights(style_weights), alpha=alpha,
                preserve_color=preserve_color or False, masks=list(masks) or None, **common,
            )
    if quiet or as_json:
        result = stylize_video(input_path, output, **kwargs)
    else:
        columns = (
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"), TimeElapsedColumn(), TimeRemainingColumn(),
        )
        progress = Progress(*columns, console=stderr, transient=False)
        task = progress.add_task("stylizing", total=None, fps=0.0, start=False)
        started = threading.Event()

        def on_progress(done: int, total: int | None) -> None:
            # Shown from the first written batch on, so an early error is one clean line.
            if not started.is_set():
                started.set()
                progress.start()
                progress.start_task(task)
            elapsed = progress.tasks[task].elapsed or 0.0
            progress.update(task, completed=done, total=total, fps=done / elapsed if elapsed else 0.0)

        try:
            result = stylize_video(input_path, output, on_progress=on_progress, **kwargs)
        finally:
            progress.stop()
    for warning in result.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}", markup=True)
    if as_json:
        data = asdict(result)
        data["output"] = str(result.output)
        click.echo(json.dumps(data))
    elif not quiet:
        stderr.print(
            f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
            f"({result.fps:.1f} fps; decode {result.decode_fps:.0f}, model {result.model_fps:.1f}, "
            f"encode {result.encode_fps:.0f} fps)"
        )
