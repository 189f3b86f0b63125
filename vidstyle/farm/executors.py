"""Run a plan's chunks on this machine (``local``) or as Ray tasks (``ray``), then assemble.

Both executors only ever call :func:`~vidstyle.farm.chunk.render_chunk` (or
the ``render`` function given in its place: same arguments, same result), so
a chunk is rendered the same way whoever runs it, and both skip chunks already
done: running a job again after a crash does only what is missing.

Ray (``pip install 'vidstyle[farm]'``) is imported only here, only when asked
for. Each chunk is one Ray task (``max_retries`` for crashed workers and
render errors); a worker process keeps its loaded model between tasks. The
plan folder, inputs and outputs must be on storage every node sees at the
same path. ``VIDSTYLE_*`` variables of the submitting process (the weights
folder, for one) are passed to the tasks.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError, RenderError, SettingsError, VidstyleError
from .assemble import AssembleResult, assemble, is_assembled
from .chunk import ChunkResult, chunk_state, render_chunk
from .plan import Plan, make_plan

__all__ = ["EXECUTORS", "RunReport", "run_chunks", "run_job", "plan_status", "ProgressFn", "ChunkRenderer"]

EXECUTORS = ("local", "ray")

# (frames done, frames in all chunks to do, chunks done, chunks to do)
ProgressFn = Callable[[int, int, int, int], None]
# render_chunk's signature: (plan, index, on_progress=...) -> ChunkResult.
ChunkRenderer = Callable[..., ChunkResult]


@dataclass
class RunReport:
    """What a run did and where its time went."""

    plan: Plan
    rendered: list[ChunkResult] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    assembled: list[AssembleResult] = field(default_factory=list)
    plan_seconds: float = 0.0
    start_seconds: float = 0.0  # starting or joining Ray
    render_seconds: float = 0.0
    assemble_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def overhead_seconds(self) -> float:
        """Time outside rendering chunks: planning, Ray start, assembling."""
        return self.total_seconds - self.render_seconds


def _pending(plan: Plan) -> tuple[list[int], int]:
    todo, skipped = [], 0
    for c in plan.chunks:
        if chunk_state(plan, c, verify=True) == "done":
            skipped += 1
        else:
            todo.append(c.index)
    return todo, skipped


def _run_local(plan: Plan, todo: list[int], report: RunReport, progress: ProgressFn | None,
               render: ChunkRenderer) -> None:
    total = sum(plan.chunk(k).frames for k in todo)
    finished = 0
    for n, k in enumerate(todo):
        def on_frames(done: int, _total: int | None, base=finished, n=n) -> None:
            if progress is not None:
                progress(base + done, total, n, len(todo))

        try:
            result = render(plan, k, on_progress=on_frames)
        except VidstyleError as exc:
            report.failed.append((k, str(exc)))
            if isinstance(exc, (SettingsError, InputError)):
                break  # the same for every chunk: stop here
            continue
        report.rendered.append(result)
        finished += plan.chunk(k).frames
        if progress is not None:
            progress(finished, total, n + 1, len(todo))


def _ray_task(folder: str, index: int, render: ChunkRenderer) -> dict[str, Any]:
    """One chunk, in a Ray worker."""
    from .plan import load_plan as _load

    return asdict(render(_load(folder), index))


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SettingsError(
            "the ray executor needs Ray: pip install 'vidstyle[farm]' (or use the local executor)",
            settings="executor",
        ) from None
    return ray


def _run_ray(
    plan: Plan,
    todo: list[int],
    report: RunReport,
    progress: ProgressFn | None,
    *,
    address: str | None,
    gpus_per_task: float,
    cpus_per_task: float,
    max_retries: int,
    render: ChunkRenderer,
) -> None:
    ray = _import_ray()
    t0 = time.perf_counter()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except ConnectionError as exc:
            raise SettingsError(
                f"cannot reach the Ray cluster at {address}: {exc}; start one with `ray start --head` "
                "and pass its address (or none, for a local Ray)", settings="address",
            ) from None
        started = True
    report.start_seconds = time.perf_counter() - t0
    env = {k: v for k, v in os.environ.items() if k.startswith("VIDSTYLE_")}
    task = ray.remote(_ray_task).options(
        num_cpus=cpus_per_task,
        num_gpus=gpus_per_task,
        max_retries=max_retries,
        retry_exceptions=[RenderError, OSError],
        runtime_env={"env_vars": env} if env else None,
    )
    try:
        total = sum(plan.chunk(k).frames for k in todo)
        refs = {task.remote(str(plan.folder), k, render): k for k in todo}
        finished_frames = 0
        done = 0
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                k = refs[ref]
                try:
                    result = ChunkResult(**ray.get(ref))
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                    report.failed.append((k, str(cause).strip().splitlines()[-1] if str(cause).strip() else repr(cause)))
                    continue
                except ray.exceptions.RayError as exc:  # a worker died more often than retried
                    report.failed.append((k, f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0]}"))
                    continue
                report.rendered.append(result)
                finished_frames += result.frames
                done += 1
                if progress is not None:
                    progress(finished_frames, total, done, len(todo))
    finally:
        if started:
            ray.shutdown()


def run_chunks(
    plan: Plan,
    *,
    executor: str = "local",
    address: str | None = None,
    gpus_per_task: float = 0,
    cpus_per_task: float = 1,
    max_retries: int = 2,
    progress: ProgressFn | None = None,
    report: RunReport | None = None,
    render: ChunkRenderer = render_chunk,
) -> RunReport:
    """Render every chunk of ``plan`` that is not done yet; failures are collected in the report.

    ``render`` renders one chunk in :func:`~vidstyle.farm.chunk.render_chunk`'s
    place (for Ray it must be importable or picklable where the workers run).
    """
    if executor not in EXECUTORS:
        raise SettingsError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}",
                            settings="executor")
    if executor == "local" and address is not None:
        raise SettingsError("a cluster address is for the ray executor", settings=("address", "executor"))
    if gpus_per_task < 0 or cpus_per_task <= 0 or max_retries < 0:
        raise SettingsError("GPUs per task must be >= 0, CPUs per task > 0 and retries >= 0",
                            settings=("gpus_per_task", "retries"))
    report = report or RunReport(plan)
    todo, report.skipped = _pending(plan)
    t0 = time.perf_counter()
    if todo:
        if executor == "local":
            _run_local(plan, todo, report, progress, render)
        else:
            _run_ray(plan, todo, report, progress, address=address, gpus_per_task=gpus_per_task,
                     cpus_per_task=cpus_per_task, max_retries=max_retries, render=render)
    report.render_seconds = time.perf_counter() - t0 - report.start_seconds
    return report


def run_job(
    job: str | os.PathLike[str],
    plan_folder: str | os.PathLike[str] | None = None,
    *,
    chunk_frames: int | None = None,
    executor: str = "local",
    address: str | None = None,
    gpus_per_task: float = 0,
    max_retries: int = 2,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    shots_cache: str | os.PathLike[str] | None = None,
    render: ChunkRenderer = render_chunk,
) -> RunReport:
    """Plan ``job`` (keeping chunks already done), render what is missing, assemble every render.

    ``progress`` is called as ``(frames done, frames to do, chunks done, chunks
    to do)``; ``shots_cache`` goes to :func:`~vidstyle.farm.plan.make_plan`,
    ``render`` to :func:`run_chunks`.

    Raises:
        RenderError: some chunks failed after their retries (the others are
            kept: run again to redo only those); the report is on ``exc.report``.
        InputError, SettingsError, OutputError: as planning or assembling would.
    """
    t0 = time.perf_counter()
    plan = make_plan(job, plan_folder, chunk_frames=chunk_frames, shots_cache=shots_cache, overwrite=overwrite)
    report = RunReport(plan, plan_seconds=time.perf_counter() - t0)
    run_chunks(plan, executor=executor, address=address, gpus_per_task=gpus_per_task,
               max_retries=max_retries, progress=progress, report=report, render=render)
    t1 = time.perf_counter()
    failed_renders = {plan.chunk(k).render for k, _ in report.failed}
    for r in plan.renders:
        if r.id not in failed_renders:
            report.assembled.append(assemble(plan, r.id, overwrite=overwrite))
    report.assemble_seconds = time.perf_counter() - t1
    report.total_seconds = time.perf_counter() - t0
    if report.failed:
        lines = "; ".join(f"chunk {k}: {msg}" for k, msg in report.failed[:3])
        more = f" (and {len(report.failed) - 3} more)" if len(report.failed) > 3 else ""
        err = RenderError(
            f"{len(report.failed)} chunk(s) failed: {lines}{more}. Finished chunks are kept: run the job again "
            f"to redo only what is missing (the plan's status in {plan.folder} lists them)"
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def plan_status(plan: Plan) -> list[dict]:
    """Per render: chunk counts by state and whether the output is assembled."""
    rows = []
    for r in plan.renders:
        states = [chunk_state(plan, c) for c in r.chunks]
        rows.append({
            "render": r.id,
            "output": r.spec.output,
            "frames": r.frames,
            "chunks": len(r.chunks),
            "done": states.count("done"),
            "failed": states.count("failed"),
            "pending": states.count("pending"),
            "frames_done": sum(c.frames for c, s in zip(r.chunks, states) if s == "done"),
            "assembled": is_assembled(plan, r),
            "chunk_states": {c.index: s for c, s in zip(r.chunks, states)},
        })
    return rows

