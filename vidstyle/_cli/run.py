"""`vidstyle run`: restyle a whole video (or a range), with a progress bar."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ..errors import SettingsError
from ..settings import EncodeSettings, ModelSettings, SequenceSettings, Span, SteadySettings, StyleSettings
from . import handle_errors, stderr, warn
from .options import (
    edit_option, encode_options, model_options, output_options, sequence_options, shots_cache_option, span_options,
    steady_options, style_options,
)
from .progress import FrameProgress


def style_settings(styles, weights, alpha, preserve_color, masks, color_method, timeline, transition) -> StyleSettings:
    """The run's :class:`StyleSettings` from its options, reading the STYLE@TIME shorthand."""
    from ..timeline import parse_duration, timeline_from_styles

    if timeline is not None:
        if transition is not None:
            raise SettingsError("a timeline sets its own transitions", settings=("timeline", "transition"))
        return StyleSettings(styles, weights, alpha, preserve_color or False, masks, color_method, timeline)
    seconds = None if transition is None else parse_duration(transition, "transition")
    shorthand = timeline_from_styles(styles, seconds, alpha, bool(preserve_color))
    if shorthand is None:
        return StyleSettings(styles, weights, alpha, preserve_color or False, masks, color_method)
    if preserve_color == "style":
        raise SettingsError("--preserve-color-mode style cannot follow styles over time: use output")
    if weights is not None or masks:
        raise SettingsError("STYLE@TIME switches styles over time: --style-weights and --mask "
                            "need a --timeline file to say which keyframe they belong to")
    return StyleSettings(timeline=shorthand, color_method=color_method)


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@style_options(required=False, style_help=(
    "Style image or saved .style file; repeat to mix styles. STYLE@TIME (b.jpg@12s, b.jpg@00:01:02, b.jpg@300f) "
    "switches to it at that time instead."))
@click.option("--timeline", type=click.Path(path_type=Path),
              help="TOML timeline: styles, alpha and colour by keyframe (see examples/timeline.toml); or an edit "
                   "(.otio, .edl, .xml) whose markers name styles.")
@edit_option
@click.option("--transition", help="With STYLE@TIME: cross-fade over this long, centred on each time (e.g. 2s); "
                                   "default a cut.")
@model_options()
@steady_options()
@output_options("Output video, or image sequence (out.%04d.exr, out.####.png); default: INPUT_styled beside it.")
@encode_options()
@span_options()
@sequence_options()
@shots_cache_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@handle_errors
def run(input_path, styles, weights, alpha, preserve_color, masks, color_method, timeline, edit, transition, size, device,
        backend, quality, batch, steady, steady_strength, steady_carry, output, overwrite, codec, crf, preset, pix_fmt,
        start, end, frames, fps, transfer, shots_cache, quiet, as_json) -> None:
    """Restyle a video after one or more style images; audio is copied untouched.

    INPUT and -o may be numbered image sequences: plate.%04d.exr or
    plate.####.exr (EXR, DPX, PNG, TIFF), with --fps; frame numbers and bit
    depth are kept.

    Styles can change over time: --style a.jpg --style b.jpg@12s --transition 2s
    cross-fades from a to b between 11 s and 13 s; --timeline t.toml sets
    styles, weights, alpha and colour per keyframe.

    Texture is kept steady from frame to frame (--no-steady turns it off):
    the shots are found first (one quick pass, cached; --edit gives them).
    """
    from ..render import stylize_video

    # With an edit and nothing else, the edit's style markers are the timeline.
    style = None if edit is not None and not styles and timeline is None else style_settings(
        styles, weights, alpha, preserve_color, masks, color_method, timeline, transition)
    steadiness = SteadySettings(steady, steady_strength, steady_carry)
    with FrameProgress("stylizing", quiet=quiet or as_json) as bar:
        result = stylize_video(
            input_path, output, style, model=ModelSettings(size, device, batch, backend, quality),
            encode=EncodeSettings(codec, crf, preset, pix_fmt), span=Span(start, end, frames),
            sequence=SequenceSettings(fps, transfer), steady=steadiness, overwrite=overwrite,
            shots_cache=shots_cache, edit=edit, on_progress=bar.frames,
        )
    for warning in result.warnings:
        warn(warning)
    if as_json:
        click.echo(json.dumps({**asdict(result), "output": str(result.output)}))
    elif not quiet:
        stderr.print(
            f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
            f"({result.fps:.1f} fps; decode {result.decode_fps:.0f}, model {result.model_fps:.1f}, "
            f"encode {result.encode_fps:.0f} fps{'' if result.steady else '; not steadied'})"
        )
