"""`vidstyle farm`: plan, render, assemble and run chunked renders (any farm, or Ray)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.table import Table

from ..errors import SettingsError
from . import handle_errors, note, stderr
from .options import shots_cache_option
from .progress import FrameProgress


@click.group()
def farm() -> None:
    """Chunked renders for render farms: plan, render chunks anywhere, assemble.

    \b
      vidstyle farm plan job.toml --chunk-frames 240     # writes job.plan/plan.json
      vidstyle farm render job.plan --chunk 7            # one task of any farm
      vidstyle farm assemble job.plan                     # join by stream copy, add audio
      vidstyle farm run job.toml --executor ray --address auto
    """


def _parse_frames(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[-:]\s*(\d+)\s*", text)
    if not m:
        raise click.BadParameter(f"{text!r}: write START-END (inclusive), e.g. 0-239", param_hint="--frames")
    return int(m.group(1)), int(m.group(2))


@farm.command()
@click.argument("job", type=click.Path(path_type=Path))
@click.option("--plan", "plan_dir", type=click.Path(path_type=Path), help="Plan folder (default: JOB's name with .plan).")
@click.option("--chunk-frames", type=click.IntRange(min=1),
              help="Frames per chunk (default: the job's, else 240), rounded up to a multiple of the batch.")
@shots_cache_option
@click.option("-y", "--overwrite", is_flag=True,
              help="Let renders to image sequences replace frames that are there (their chunks write in place).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan's chunks as JSON on stdout.")
@handle_errors
def plan(job, plan_dir, chunk_frames, shots_cache, overwrite, as_json) -> None:
    """Split every render of JOB (TOML) into chunks and write a plan folder."""
    from ..farm import make_plan

    p = make_plan(job, plan_dir, chunk_frames=chunk_frames, shots_cache=shots_cache, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(p.to_dict(), indent=2))
        return
    for r in p.renders:
        stderr.print(f"{r.id}: {r.frames} frames in {len(r.chunks)} chunks of {r.chunk_frames} "
                     f"(chunks {r.chunks[0].index}-{r.chunks[-1].index}, batch {r.spec.model.batch}) "
                     f"-> {r.spec.output}")
    for line in p.notes:
        note(line)
    stderr.print(f"plan written to {p.folder / 'plan.json'} ({len(p.chunks)} chunks)")


@farm.command()
@click.argument("plan_dir", metavar="PLAN", type=click.Path(path_type=Path))
@click.option("--chunk", "chunks", type=int, multiple=True, help="Chunk index in the plan (repeatable).")
@click.option("--frames", "frame_range", help="START-END (inclusive) as farm schedulers pass frame tokens.")
@click.option("--render", "render_id", help="With --frames: which render (id or name), if the plan has several.")
@click.option("--force", is_flag=True, help="Render even if the chunk is already done and verified.")
@click.option("--quiet", is_flag=True, help="No progress bar, no summary.")
@handle_errors
def render(plan_dir, chunks, frame_range, render_id, force, quiet) -> None:
    """Render chunks of PLAN into the plan folder; chunks already done are skipped."""
    from ..farm import load_plan, render_chunk

    p = load_plan(plan_dir)
    if bool(chunks) == bool(frame_range):
        raise SettingsError("give --chunk K or --frames START-END")
    if frame_range:
        first, last = _parse_frames(frame_range)
        indices = [c.index for c in p.chunks_in(render_id, first, last)]
    else:
        if render_id is not None:
            raise SettingsError("--render goes with --frames; --chunk counts over the whole plan")
        indices = [p.chunk(k).index for k in chunks]
    for k in indices:
        c = p.chunk(k)
        with FrameProgress(f"chunk {k}", quiet=quiet) as bar:
            result = render_chunk(p, k, force=force, on_progress=lambda done, total: bar.update(done, total, c.label))
        if not quiet:
            verb = "already done" if result.status == "skipped" else f"rendered in {result.seconds:.1f} s"
            stderr.print(f"{c.label}: {verb}")


@farm.command()
@click.argument("plan_dir", metavar="PLAN", type=click.Path(path_type=Path))
@click.option("--render", "render_id", help="Only this render (id or name).")
@click.option("-y", "--overwrite", is_flag=True, help="Replace outputs that exist.")
@click.option("--force", is_flag=True, help="Assemble again even if the output is already this plan's.")
@handle_errors
def assemble(plan_dir, render_id, overwrite, force) -> None:
    """Join each render's chunks by stream copy, add the input's audio, check the frame count."""
    from ..farm import assemble as join, load_plan

    p = load_plan(plan_dir)
    ids = [p.render(render_id).id] if render_id else [r.id for r in p.renders]
    for rid in ids:
        result = join(p, rid, overwrite=overwrite, force=force)
        verb = "already assembled" if result.status == "skipped" else "wrote"
        stderr.print(f"{rid}: {verb} {result.output} ({result.frames} frames)")


@farm.command()
@click.argument("plan_dir", metavar="PLAN", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
@handle_errors
def status(plan_dir, as_json) -> None:
    """Show each render's chunks: done, failed, pending; and whether it is assembled."""
    from ..farm import load_plan
    from ..farm.chunk import read_marker
    from ..farm.executors import plan_status

    p = load_plan(plan_dir)
    rows = plan_status(p)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=str(p.folder))
    for col in ("render", "chunks", "done", "failed", "pending", "frames done", "assembled"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["render"], str(row["chunks"]), str(row["done"]), str(row["failed"]), str(row["pending"]),
                      f"{row['frames_done']}/{row['frames']}", "yes" if row["assembled"] else "no")
    stderr.print(table)
    for row in rows:
        for k, state in row["chunk_states"].items():
            if state == "failed":
                err = (read_marker(p, p.chunk(k), "failed") or {}).get("error", "?")
                stderr.print(f"[red]chunk {k} failed:[/] {err}", markup=True)


@farm.command()
@click.argument("job", type=click.Path(path_type=Path))
@click.option("--plan", "plan_dir", type=click.Path(path_type=Path), help="Plan folder (default: JOB's name with .plan).")
@click.option("--chunk-frames", type=click.IntRange(min=1),
              help="Frames per chunk (default: the job's, else 240), rounded up to a multiple of the batch.")
@shots_cache_option
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", help="Ray cluster address (from `ray start --head`; 'auto' finds a local one).")
@click.option("--gpus-per-task", type=click.FloatRange(min=0), default=0, show_default=True, help="GPUs each Ray task reserves.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True, help="Ray retries of a failed chunk.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace outputs that exist.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def run(job, plan_dir, chunk_frames, shots_cache, executor, address, gpus_per_task, retries, overwrite,
        quiet) -> None:
    """Plan JOB, render the missing chunks (here or on Ray), assemble every render."""
    from ..farm.executors import run_job

    with FrameProgress("frames", quiet=quiet) as bar:
        report = run_job(
            job, plan_dir, chunk_frames=chunk_frames, executor=executor, address=address,
            gpus_per_task=gpus_per_task, max_retries=retries, overwrite=overwrite, shots_cache=shots_cache,
            progress=lambda done, total, chunks_done, chunks: bar.update(done, total, f"chunks {chunks_done}/{chunks}"),
        )
    if not quiet:
        for line in report.plan.notes:
            note(line)
        stderr.print(
            f"{len(report.rendered)} chunks rendered, {report.skipped} already done; "
            f"{report.total_seconds:.1f} s ({report.render_seconds:.1f} s rendering, "
            f"{report.overhead_seconds:.1f} s planning/starting/assembling)"
        )
        for a in report.assembled:
            stderr.print(f"{a.render}: {'already assembled' if a.status == 'skipped' else 'wrote'} {a.output} ({a.frames} frames)")
