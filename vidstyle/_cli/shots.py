"""`vidstyle shots`: list a video's shots (hard cuts)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from . import handle_errors, stderr
from .options import model_options, sequence_options, shots_cache_option
from .progress import FrameProgress

CSV_FIELDS = ("shot", "start_frame", "end_frame", "frames", "start_timecode", "end_timecode", "start_time", "end_time", "duration")


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--json", "fmt", flag_value="json", help="Print the shot list as JSON on stdout (what the cache holds).")
@click.option("--csv", "fmt", flag_value="csv", help="Print one CSV row per shot on stdout.")
@click.option("--min-shot", type=click.IntRange(min=1), default=None, metavar="FRAMES",
              help="Shortest shot, in frames (default: half a second).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Smallest frame difference, 0-1, that can be a cut (default 0.015).")
@click.option("--adaptive", type=click.FloatRange(min=1), default=None,
              help="How many times its neighbours' difference a cut must stand out (default 3).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write a cached list.")
@click.option("--export", type=click.Path(path_type=Path), metavar="EDIT",
              help="Also write the shots as an edit an editor can import: .otio (OpenTimelineIO), .edl (CMX 3600) "
                   "or .xml (FCP 7), one clip per shot.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace the --export file if it exists.")
@shots_cache_option
@sequence_options()
@model_options(size=False, batch=False)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def shots(input_path, fmt, min_shot, threshold, adaptive, no_cache, export, overwrite, shots_cache, fps, transfer,
          device, quiet) -> None:
    """List the shots of a video: where each hard cut is, by frame and time.

    Frames are 0-based and END is exclusive, so `vidstyle run --frames START:END`
    renders exactly one shot. Dissolves and fades are not cuts. The list is
    cached in the user's cache folder (or --shots-cache) and reused while the
    file and the settings stay the same.
    """
    from ..settings import SequenceSettings
    from ..shots import ShotSettings, shots_for

    defaults = ShotSettings()
    settings = ShotSettings(
        threshold=defaults.threshold if threshold is None else threshold,
        adaptive=defaults.adaptive if adaptive is None else adaptive,
        min_shot_frames=min_shot,
    )
    with FrameProgress("finding cuts", quiet=quiet or fmt is not None) as bar:
        shot_list = shots_for(input_path, device=device, settings=settings, cache=not no_cache,
                              cache_dir=shots_cache, progress=bar.frames, sequence=SequenceSettings(fps, transfer))
    if export is not None:
        from ..editorial import write_shot_list

        media = None if "%" in input_path.name or "#" in input_path.name else input_path
        write_shot_list(shot_list, export, media, overwrite=overwrite)
        stderr.print(f"wrote {export} ({shot_list.count} shots)")
    if fmt == "json":
        click.echo(shot_list.to_json())
        return
    rows = shot_list.rows()
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{input_path.name}: {shot_list.count} shot{'s' if shot_list.count != 1 else ''}, "
                        f"{shot_list.frames} frames")
    for name in ("shot", "start", "end", "start time", "end time", "duration"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(str(r["shot"]), str(r["start_frame"]), str(r["end_frame"]), r["start_timecode"],
                      r["end_timecode"], f"{r['duration']:.3f} s")
    Console(highlight=False).print(table)
    stderr.print(f"min shot {shot_list.settings.min_shot_frames} frames; end frames are exclusive")
