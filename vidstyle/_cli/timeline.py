"""`vidstyle timeline check`: show what a timeline will do to a video, without rendering."""
from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import handle_errors, warn
from .options import edit_option, sequence_options, shots_cache_option

@click.group()
def timeline() -> None:
    """Work with timeline files (style changing over time)."""


@timeline.command()
@click.argument("timeline_path", metavar="TIMELINE", type=click.Path(path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@edit_option
@sequence_options()
@shots_cache_option
@handle_errors
def check(timeline_path: Path, input_path: Path, edit: Path | None, fps: str | None, transfer: str,
          shots_cache: Path | None) -> None:
    """Check TIMELINE (TOML, or an edit's style markers) against INPUT and print the resolved schedule.

    Nothing is rendered and no model is loaded.
    """
    from ..masks import MaskLoader
    from ..settings import SequenceSettings
    from ..timeline import load_timeline
    from ..video import count_frames, format_timecode, probe

    sequence = SequenceSettings(fps, transfer)
    info = probe(input_path, sequence)
    tl = load_timeline(timeline_path, info.fps)
    shots = None
    if edit is not None:
        from ..editorial import read_edit

        e = read_edit(edit, info.fps)
        shots = e.shot_list(info.fps, count_frames(info))
        for warning in (*e.warnings, *e.check_length(info.fps, shots.frames)):
            warn(warning)
    elif tl.uses_shots:
        from ..shots import shots_for

        shots = shots_for(input_path, cache_dir=shots_cache, sequence=sequence)
    resolved = tl.resolve(info.fps, info.frame_count, shots)
    # Masks are checked as a render checks them: mask videos' lengths, shapes.
    masks = MaskLoader((info.height, info.width), info)
    for r in resolved.keyframes:
        if r.keyframe.masks:
            masks.load(r.keyframe.masks, r.keyframe.where)
    table = Table(title=f"{timeline_path} on {input_path.name} ({info.frame_count} frames at {float(info.fps):.3f} fps)")
    for name, justify in (("time", "right"), ("frame", "right"), ("shot", "right"), ("styles (weights)", "left"),
                          ("alpha", "right"), ("colour", "left"), ("masks", "left"), ("change", "left")):
        table.add_column(name, justify=justify)
    for i, r in enumerate(resolved.keyframes):
        k = r.keyframe
        styles = ", ".join(f"{p.name} ({w:.2f})" for p, w in zip(k.styles, k.weights))
        if i == 0:
            change = "start"
        elif r.change_end <= r.change_start:
            change = "cut"
        else:
            change = f"{k.curve} {r.change_start:.2f}-{r.change_end:.2f} s"
        table.add_row(
            format_timecode(r.time), str(r.frame), "-" if r.shot is None else str(r.shot), styles, f"{k.alpha:g}",
            "preserved" if k.preserve_color else "style", ", ".join(p.name + (" (video)" if str(p) in masks.videos else "") for p in k.masks) or "-", change,
        )
    Console(highlight=False, soft_wrap=True).print(table)
    for warning in (*resolved.warnings, *masks.warnings):
        warn(warning)
