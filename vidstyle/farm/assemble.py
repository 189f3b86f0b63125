"""Join a render's chunks into its output: stream copy, the input's audio once, frames counted.

Chunks are joined without re-encoding (:func:`vidstyle.farm.join.join_chunks`).
Before anything is written, every chunk must be done and match its marker
(size and sha256) and the chunks must tile the input's frames; afterwards the
output's frames are counted against the input's. A tampered plan folder (a
chunk missing, replaced or of the wrong length) stops with the chunk to redo.

A render to an image sequence has nothing to join: its chunks wrote their
frames in place. Assembling it checks the same things (every chunk done and
matching its marker, the chunks tiling the input) and that the output holds
one frame per input frame, then records the result.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..digest import InputIdentity, file_sha256, files_digest
from ..errors import InputError, RenderError
from ..outputs import atomic_path
from .chunk import chunk_state, marker_path, read_marker
from .join import ChunkFile, join_chunks, scan_chunk
from .plan import Plan, RenderPlan

__all__ = ["AssembleResult", "assemble", "assemble_plan", "assembled_path", "is_assembled"]


@dataclass(frozen=True)
class AssembleResult:
    render: str
    output: Path
    frames: int
    status: str  # "assembled" or "skipped" (the output is this plan's, unchanged)
    seconds: float


def assembled_path(plan: Plan, render: RenderPlan) -> Path:
    return plan.folder / render.id / "assembled.json"


def is_assembled(plan: Plan, render: RenderPlan) -> bool:
    """True when the output is there and is the one this plan assembled (same key, size and sha256)."""
    try:
        data = json.loads(assembled_path(plan, render).read_text(encoding="utf-8"))
        out = Path(render.spec.output)
        if render.spec.writes_sequence:
            size, digest = files_digest([Path(f) for f in data.get("files", [])])
        else:
            size, digest = out.stat().st_size, file_sha256(out)
        return (
            data.get("key") == render.key and data.get("output") == str(out)
            and size == data.get("bytes") and digest == data.get("sha256")
        )
    except (OSError, ValueError, AttributeError, InputError):
        return False


def _check_chunks(plan: Plan, render: RenderPlan) -> None:
    expected = 0
    for c in render.chunks:
        if c.start != expected or c.stop <= c.start:
            raise RenderError(
                f"the plan's chunks of {render.id} do not cover frames 0-{render.frames - 1} in order "
                f"(chunk {c.index} starts at {c.start}, expected {expected}); make the plan again"
            )
        expected = c.stop
    if expected != render.frames:
        raise RenderError(f"the plan's chunks of {render.id} cover {expected} frames, the input has {render.frames}")
    for c in render.chunks:
        path = plan.path(c)
        marker = read_marker(plan, c)
        if not path.exists() and not render.spec.writes_sequence:
            raise RenderError(f"{c.label} is missing ({path.name}): render chunk {c.index}, or run the job again")
        if marker is None:
            raise RenderError(f"{c.label} is not finished (no {marker_path(plan, c).name}): render chunk {c.index}")
        if marker.get("frames") != c.frames or marker.get("start") != c.start or marker.get("stop") != c.stop:
            raise RenderError(
                f"{c.label}: its marker says {marker.get('frames')} frames ({marker.get('start')}-{marker.get('stop')}), "
                f"the plan {c.frames}: render chunk {c.index} again, forced"
            )
        if chunk_state(plan, c, verify=True) != "done":
            raise RenderError(
                f"{c.label}: {path.name} does not match its marker (changed, truncated or from other settings): "
                f"render chunk {c.index} again, forced"
            )


def assemble(plan: Plan, render_id: str | None = None, *, overwrite: bool = False, force: bool = False) -> AssembleResult:
    """Join the chunks of one render into its output.

    Args:
        render_id: the render's id or name (may be left out when the plan has one render).
        overwrite: replace an output that exists and is not this plan's result.
        force: assemble again even if this plan's output is already there.

    Raises:
        RenderError: a chunk is missing, unfinished, changed or of the wrong
            length; the joined frame count differs from the input's.
        InputError: the input changed since planning.
        OutputError: the output exists (without ``overwrite``) or cannot be written.
    """
    from ..video import count_frames, probe

    render = plan.render(render_id)
    spec = render.spec
    out = Path(spec.output)
    t0 = time.perf_counter()
    if not force and is_assembled(plan, render):
        return AssembleResult(render.id, out, render.frames, "skipped", 0.0)
    if asdict(InputIdentity.of(spec.input)) != render.input_identity:
        raise InputError(f"{spec.input} changed since the plan was made; make the plan again")
    _check_chunks(plan, render)
    info = probe(spec.input, spec.sequence)
    if spec.writes_sequence:
        return _record_sequence(plan, render, info, t0)
    files = [ChunkFile(plan.path(c), c.frames, c.first_pts) for c in render.chunks]
    ours = assembled_path(plan, render).exists() and out.exists()
    written = join_chunks(files, info, out, overwrite=overwrite or ours, audio=info.sequence is None)
    # The input's own count (a demux pass), not the plan's: the output must match the video.
    frames = count_frames(info)
    got = scan_chunk(out).packets
    if written != frames or got != frames:
        os.unlink(out)
        raise RenderError(f"{out} has {got} frames but {spec.input} has {frames}; it was removed")
    record = {"key": render.key, "output": str(out), "frames": got, "bytes": out.stat().st_size,
              "sha256": file_sha256(out)}
    with atomic_path(assembled_path(plan, render), overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return AssembleResult(render.id, out, got, "assembled", time.perf_counter() - t0)


def _record_sequence(plan: Plan, render: RenderPlan, info, t0: float) -> AssembleResult:
    """An image-sequence output: its chunks' frames are in place; check them all and record the result."""
    from ..video import count_frames
    from ..video.sequence import output_frames

    frames = count_frames(info)
    files = output_frames(render.spec.output, info, 0, frames)
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise RenderError(f"{render.id}: {missing[0]} is missing ({len(missing)} of {frames} frames): "
                          "render its chunk again, forced")
    size, digest = files_digest(files)
    record = {"key": render.key, "output": render.spec.output, "frames": frames, "bytes": size, "sha256": digest,
              "files": [str(f) for f in files]}
    with atomic_path(assembled_path(plan, render), overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return AssembleResult(render.id, Path(render.spec.output), frames, "assembled", time.perf_counter() - t0)


def assemble_plan(plan: Plan, *, overwrite: bool = False, force: bool = False) -> list[AssembleResult]:
    """Assemble every render of the plan (see :func:`assemble`)."""
    return [assemble(plan, r.id, overwrite=overwrite, force=force) for r in plan.renders]
