"""Render one chunk of a plan, idempotently: verified chunks are skipped, nothing half-written counts.

A chunk is the file ``<plan>/<render>/chunk-NNNN.<ext>`` plus its marker
``chunk-NNNN.done.json`` (frames, size, sha256 and the render's key), written
only after the file was renamed into place and its frames counted. A render
whose output is an image sequence has no chunk files: each chunk writes its
frames straight into the output (atomically, as any render does) and its
marker lists them, with their total size and one sha256 of all. A chunk is
done when the marker matches the file and the plan; anything else (no marker,
a hidden ``.chunk-NNNN.partial-*`` file left by a killed worker, a marker of
older settings) means it is rendered again. A failure leaves
``chunk-NNNN.failed.json`` with the error, for ``vidstyle farm status``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..digest import InputIdentity, content_digest, file_sha256, files_digest
from ..errors import InputError, RenderError, VidstyleError
from ..outputs import atomic_path
from ..settings import ModelSettings, Span
from ..stylize import Stylizer
from .join import scan_chunk
from .plan import ChunkPlan, Plan, RenderPlan

__all__ = ["ChunkResult", "render_chunk", "chunk_state", "read_marker", "marker_path", "get_stylizer"]

_STYLIZERS: dict[tuple, Stylizer] = {}


@dataclass(frozen=True)
class ChunkResult:
    """What :func:`render_chunk` did with one chunk."""

    index: int
    render: str
    status: str  # "rendered" or "skipped" (already done and verified)
    frames: int
    seconds: float


def marker_path(plan: Plan, chunk: ChunkPlan, kind: str = "done") -> Path:
    path = plan.path(chunk)
    return path.with_name(f"{path.stem}.{kind}.json")


def read_marker(plan: Plan, chunk: ChunkPlan, kind: str = "done") -> dict[str, Any] | None:
    try:
        data = json.loads(marker_path(plan, chunk, kind).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _partials(plan: Plan, chunk: ChunkPlan) -> list[Path]:
    path = plan.path(chunk)
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{path.stem}.partial-*"))


def chunk_state(plan: Plan, chunk: ChunkPlan, *, verify: bool = False) -> str:
    """``"done"``, ``"failed"`` or ``"pending"``.

    ``done`` needs a marker for this render's key and frame range and a file of
    the marked size; ``verify`` also checks the file's sha256.
    """
    render = next(r for r in plan.renders if r.id == chunk.render)
    marker = read_marker(plan, chunk)
    path = plan.path(chunk)
    if marker is not None and _marker_fits(marker, render, chunk):
        if render.spec.writes_sequence:
            if _frames_match(marker, verify):
                return "done"
        else:
            try:
                size = path.stat().st_size
            except OSError:
                size = None
            if size == marker.get("bytes") and (not verify or file_sha256(path) == marker.get("sha256")):
                return "done"
    if read_marker(plan, chunk, "failed") is not None:
        return "failed"
    return "pending"


def _frames_match(marker: dict[str, Any], verify: bool) -> bool:
    """The frames a sequence chunk's marker lists are there, of the marked size (and sha256 with ``verify``)."""
    files = marker.get("files")
    if not isinstance(files, list) or not files:
        return False
    try:
        paths = [Path(f) for f in files]
        if sum(p.stat().st_size for p in paths) != marker.get("bytes"):
            return False
        return not verify or files_digest(paths)[1] == marker.get("sha256")
    except (OSError, InputError, TypeError):
        return False


def _marker_fits(marker: dict[str, Any], render: RenderPlan, chunk: ChunkPlan) -> bool:
    return (
        marker.get("key") == render.key
        and marker.get("start") == chunk.start
        and marker.get("stop") == chunk.stop
        and marker.get("frames") == chunk.frames
    )


class _CachingStylizer(Stylizer):
    """A Stylizer that encodes each style file once per process (until the file changes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._styles: dict[tuple, Any] = {}

    def load_style(self, path, color_reference=None):
        if color_reference is not None:  # colour matched to a frame: not reusable
            return super().load_style(path, color_reference)
        p = Path(path)
        try:
            st = p.stat()
        except OSError:
            return super().load_style(path)
        k = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if k not in self._styles:
            self._styles[k] = super().load_style(path)
        return self._styles[k]


def get_stylizer(model: ModelSettings) -> Stylizer:
    """One :class:`~vidstyle.stylize.Stylizer` per process, device, size and weights folder.

    A local run or a Ray worker loads the networks once and renders many
    chunks; each style image is encoded once per process too (the statistics
    are the values a single run computes on this device, so chunks stay
    identical to it).
    """
    from ..model import weights_dir

    key = (model.device, model.size, model.backend, model.quality, str(weights_dir()))
    if key not in _STYLIZERS:
        _STYLIZERS[key] = _CachingStylizer.from_settings(model)
    return _STYLIZERS[key]


def _check_inputs(render: RenderPlan) -> None:
    spec = render.spec
    if asdict(InputIdentity.of(spec.input)) != render.input_identity:
        raise InputError(
            f"{spec.input} changed since the plan was made; make the plan again (finished chunks of "
            "unchanged renders are kept)"
        )
    for path, digest in render.files.items():
        if content_digest(path) != digest:
            raise InputError(f"{path} changed since the plan was made; make the plan again")


def _written_frames(spec: Any, chunk: ChunkPlan) -> list[Path]:
    """The output frames of a sequence chunk, checked to be there (the writer renamed them in place)."""
    from ..video import probe
    from ..video.sequence import output_frames

    files = output_frames(spec.output, probe(spec.input, spec.sequence), chunk.start, chunk.stop)
    missing = [f for f in files if not f.is_file()]
    if missing or len(files) != chunk.frames:
        raise RenderError(f"{chunk.label}: {len(files) - len(missing)} of {chunk.frames} frames were written "
                          f"({missing[0].name if missing else ''} is missing)")
    return files


def _remove_partial_frames(spec: Any, chunk: ChunkPlan) -> None:
    """A killed attempt at this chunk leaves a hidden folder of frames beside the output: remove it."""
    import shutil

    from ..video.sequence import parse_pattern, partial_prefix

    pattern = parse_pattern(spec.output)
    if pattern is not None and pattern.folder.is_dir():
        for leftover in pattern.folder.glob(f"{partial_prefix(pattern, chunk.start, chunk.stop)}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def render_chunk(
    plan: Plan,
    index: int,
    *,
    stylizer: Stylizer | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    force: bool = False,
) -> ChunkResult:
    """Render chunk ``index`` of ``plan`` into the plan folder, unless it is already done.

    The chunk file is written atomically (temporary file, renamed when every
    frame is counted); then its frames are counted again from the file and the
    marker is written. Each chunk starts with a keyframe and has no audio: the
    assembled file gets the input's audio once.

    Args:
        stylizer: a loaded :class:`~vidstyle.stylize.Stylizer` (default: one per
            process, see :func:`get_stylizer`).
        on_progress: called as ``(frames_done, frames_in_chunk)`` as frames are written.
        force: render even when a verified chunk is there.

    Raises:
        InputError: the input or a style file changed since planning.
        RenderError, SettingsError, OutputError, WeightsError: as a render would.
    """
    from ..render import stylize_video

    chunk = plan.chunk(index)
    render = next(r for r in plan.renders if r.id == chunk.render)
    spec = render.spec
    path = plan.path(chunk)
    if not force and chunk_state(plan, chunk, verify=True) == "done":
        return ChunkResult(chunk.index, render.id, "skipped", chunk.frames, 0.0)
    t0 = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in _partials(plan, chunk):  # a killed attempt's temporary file
        leftover.unlink(missing_ok=True)
    marker_path(plan, chunk).unlink(missing_ok=True)
    try:
        _check_inputs(render)
        if spec.writes_sequence:
            _remove_partial_frames(spec, chunk)
        stylize_video(
            spec.input, spec.output if spec.writes_sequence else path, spec.style, model=spec.model,
            encode=spec.encode, span=Span(frames=(chunk.start, chunk.stop)), sequence=spec.sequence,
            steady=spec.steady, overwrite=True, audio=False, shots=render.shot_list(), warmup=chunk.warmup,
            stylizer=stylizer or get_stylizer(spec.model), on_progress=on_progress,
        )
        if spec.writes_sequence:
            files = _written_frames(spec, chunk)
            size, digest = files_digest(files)
            content: dict[str, Any] = {"files": [str(f) for f in files], "bytes": size, "sha256": digest}
        else:
            scan = scan_chunk(path)
            if scan.packets != chunk.frames or not scan.first_is_keyframe:
                raise RenderError(
                    f"{chunk.label}: the written file has {scan.packets} frames"
                    f"{'' if scan.first_is_keyframe else ' and does not start with a keyframe'}; expected {chunk.frames}"
                )
            content = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
        marker = {
            "render": render.id, "chunk": chunk.index, "start": chunk.start, "stop": chunk.stop,
            "frames": chunk.frames, "key": render.key, **content,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        with atomic_path(marker_path(plan, chunk), overwrite=True) as tmp:
            tmp.write_text(json.dumps(marker, indent=2), encoding="utf-8")
    except BaseException as exc:
        message = str(exc) if isinstance(exc, VidstyleError) else f"{exc.__class__.__name__}: {exc}"
        try:
            with atomic_path(marker_path(plan, chunk, "failed"), overwrite=True) as tmp:
                tmp.write_text(json.dumps({"chunk": chunk.index, "error": message, "time": time.time()}), encoding="utf-8")
        except VidstyleError:
            pass
        raise
    marker_path(plan, chunk, "failed").unlink(missing_ok=True)
    return ChunkResult(chunk.index, render.id, "rendered", chunk.frames, time.perf_counter() - t0)
