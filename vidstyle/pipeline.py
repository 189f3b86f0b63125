"""Three stages joined by bounded queues: decode -> model -> encode.

The reader runs in one thread, the writer in another, and the model stage in
the calling thread (so a CUDA context, and Ctrl-C, stay where the caller is).
Bounded queues keep at most a couple of batches in flight: decoding and
encoding overlap the model while memory stays flat.

Any failure in any stage stops the others within a fraction of a second and is
raised to the caller; nothing is swallowed and no thread is left waiting.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from .errors import RenderError
from .video.reader import FrameBatch

__all__ = ["PipelineStats", "run_pipeline", "BatchSource", "BatchSink"]

# How often a blocked stage looks up to see whether another stage failed.
_POLL_S = 0.05


class BatchSource(Protocol):
    def iter_batches(self, batch_size: int) -> Iterator[FrameBatch]: ...


class BatchSink(Protocol):
    def write(self, indices: list[int], pts: list[int | None], rgb: torch.Tensor) -> None: ...


@dataclass(frozen=True)
class PipelineStats:
    """What a run did and where the time went.

    ``*_seconds`` are busy times of each stage (they overlap, so they can add
    up to more than ``seconds``, the wall time). The slowest stage sets the pace.
    """

    frames: int
    seconds: float
    decode_seconds: float
    model_seconds: float
    encode_seconds: float

    @staticmethod
    def _rate(frames: int, seconds: float) -> float:
        return frames / seconds if seconds > 0 else 0.0

    @property
    def fps(self) -> float:
        return self._rate(self.frames, self.seconds)

    @property
    def decode_fps(self) -> float:
        return self._rate(self.frames, self.decode_seconds)

    @property
    def model_fps(self) -> float:
        return self._rate(self.frames, self.model_seconds)

    @property
    def encode_fps(self) -> float:
        return self._rate(self.frames, self.encode_seconds)


class _Stop(Exception):
    """Internal: another stage failed; leave quietly."""


_END = object()  # end-of-stream marker on the queues


class _Shared:
    """State the three stages share: the first failure, and the stop flag."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def put(self, q: queue.Queue, item: object) -> None:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> object:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue


def run_pipeline(
    reader: BatchSource,
    process: Callable[[FrameBatch], torch.Tensor],
    writer: BatchSink,
    batch_size: int,
    on_progress: Callable[[int], None] | None = None,
    *,
    queue_size: int = 2,
    pin_memory: bool = False,
) -> PipelineStats:
    """Decode, process and encode every batch, with the three stages overlapping.

    Args:
        reader: yields :class:`FrameBatch` es (a :class:`vidstyle.video.FrameReader`).
        process: the model stage: a :class:`FrameBatch` (frames, their
            indices and times, mask-video frames) -> the processed frames;
            runs in the calling thread.
        writer: takes processed frames (a :class:`vidstyle.video.FrameWriter`).
        batch_size: frames per batch.
        on_progress: called with the number of frames written so far, from
            the writer thread, after each batch.
        queue_size: batches allowed to wait between two stages.
        pin_memory: pin each batch in the reader thread, so the model stage
            can copy it to the GPU with ``non_blocking=True``.

    Shape:
        ``process``: ``batch.rgb`` ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` in [0, 1].

    Returns:
        :class:`PipelineStats`.

    Raises:
        Whatever a stage raised (the first failure), KeyboardInterrupt included.
    """
    shared = _Shared()
    to_model: queue.Queue = queue.Queue(maxsize=queue_size)
    to_writer: queue.Queue = queue.Queue(maxsize=queue_size)
    busy = {"decode": 0.0, "encode": 0.0}
    written = [0]

    def read_stage() -> None:
        try:
            batches = iter(reader.iter_batches(batch_size))
            try:
                while True:
                    t = time.perf_counter()
                    batch = next(batches, None)
                    if batch is not None and pin_memory:
                        batch.rgb = batch.rgb.pin_memory()
                    busy["decode"] += time.perf_counter() - t
                    if batch is None:
                        break
                    shared.put(to_model, batch)
                shared.put(to_model, _END)
            finally:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()  # releases the decoder promptly when stopped early
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            shared.fail(exc)

    def write_stage() -> None:
        try:
            while True:
                item = shared.get(to_writer)
                if item is _END:
                    return
                batch, rgb = item  # type: ignore[misc]
                t = time.perf_counter()
                writer.write(batch.indices, batch.pts, rgb)
                busy["encode"] += time.perf_counter() - t
                written[0] += len(batch.indices)
                if on_progress is not None:
                    on_progress(written[0])
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            shared.fail(exc)

    threads = [
        threading.Thread(target=read_stage, name="vidstyle-decode", daemon=True),
        threading.Thread(target=write_stage, name="vidstyle-encode", daemon=True),
    ]
    start = time.perf_counter()
    model_busy = 0.0
    for th in threads:
        th.start()
    try:
        while True:
            item = shared.get(to_model)
            if item is _END:
                shared.put(to_writer, _END)
                break
            batch: FrameBatch = item  # type: ignore[assignment]
            t = time.perf_counter()
            out = process(batch)
            model_busy += time.perf_counter() - t
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(batch.rgb.shape):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise RenderError(
                    f"the model stage returned {got} for frames {batch.indices[0]}-{batch.indices[-1]} "
                    f"of shape {tuple(batch.rgb.shape)}"
                )
            shared.put(to_writer, (batch, out))
        # Wait for the writer to drain, still watching for its failure.
        while threads[1].is_alive():
            threads[1].join(timeout=_POLL_S)
    except _Stop:
        pass
    except BaseException as exc:
        shared.fail(exc)
    finally:
        shared.stop.set()
        for th in threads:
            # Each stage notices the stop flag within _POLL_S, or after the
            # batch it is decoding or encoding now.
            while th.is_alive():
                th.join(timeout=_POLL_S)
    if shared.error is not None:
        raise shared.error
    return PipelineStats(
        frames=written[0],
        seconds=time.perf_counter() - start,
        decode_seconds=busy["decode"],
        model_seconds=model_busy,
        encode_seconds=busy["encode"],
    )
