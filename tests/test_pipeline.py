"""The three-stage pipeline: order, stats, and failures from any stage without hangs."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from conftest import FAST
from vidstyle.errors import RenderError
from vidstyle.pipeline import PipelineStats, run_pipeline
from vidstyle.video import FrameBatch, FrameReader, FrameWriter

# How long a test waits for another stage before it calls the pipeline stuck. Never reached
# when the pipeline works, so a slow machine cannot fail a test; it only bounds a broken run.
WAIT = 30.0


def invert(batch: FrameBatch) -> torch.Tensor:
    return 1 - batch.rgb


class FakeReader:
    """Yields ``n`` tiny frames; can fail at a given batch."""

    def __init__(self, n: int = 20, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.closed = False
        self.read = 0  # batches handed out

    def iter_batches(self, batch_size: int):
        try:
            for k, start in enumerate(range(0, self.n, batch_size)):
                if k == self.fail_at:
                    raise OSError("decoder exploded")
                idx = list(range(start, min(start + batch_size, self.n)))
                rgb = torch.stack([torch.full((3, 4, 5), i / self.n) for i in idx])
                self.read += 1
                yield FrameBatch(idx, idx, [i / 25 for i in idx], rgb)
        finally:
            self.closed = True


class FakeWriter:
    def __init__(self, fail_at: int | None = None) -> None:
        self.got: list[int] = []
        self.values: list[float] = []
        self.fail_at = fail_at
        self.threads: set[str] = set()

    def write(self, indices, pts, rgb) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and len(self.got) >= self.fail_at:
            raise OSError("disk on fire")
        self.got.extend(indices)
        self.values.extend(rgb[:, 0, 0, 0].tolist())


def no_stray_threads() -> bool:
    """run_pipeline joins its threads before it returns or raises: none may be left, even for a moment."""
    return not [t for t in threading.enumerate() if t.name.startswith("vidstyle-")]


def test_all_frames_in_order_with_stats() -> None:
    writer = FakeWriter()
    progress: list[int] = []
    stats = run_pipeline(FakeReader(23), invert, writer, batch_size=4, on_progress=progress.append)
    assert writer.got == list(range(23))
    assert writer.values == pytest.approx([1 - i / 23 for i in range(23)])
    assert progress[-1] == 23 and progress == sorted(progress)
    assert isinstance(stats, PipelineStats) and stats.frames == 23
    assert stats.seconds > 0 and stats.model_fps > 0 and stats.decode_fps > 0 and stats.encode_fps > 0
    assert writer.threads == {"vidstyle-encode"}
    assert no_stray_threads()


class Counter:
    """A count that one thread raises and another waits on."""

    def __init__(self) -> None:
        self.value = 0
        self._cond = threading.Condition()

    def up(self) -> None:
        with self._cond:
            self.value += 1
            self._cond.notify_all()

    def reaches(self, n: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.value >= n, timeout=WAIT)


def test_stages_overlap() -> None:
    """Each stage works on its own batch while the others work on theirs.

    The reader hands out batch k+1 before the model finishes batch k, and the
    model starts batch k+1 before the writer finishes batch k. Stages run one
    after the other could do neither: such a pipeline fails here (each wait
    gives up after WAIT seconds) instead of hanging.
    """
    n, size = 40, 4
    last = n // size - 1
    read, started = Counter(), Counter()

    class CountingReader(FakeReader):
        def iter_batches(self, batch_size):
            for batch in super().iter_batches(batch_size):
                read.up()
                yield batch

    def model(batch):
        k = batch.indices[0] // size
        started.up()
        if k < last and not read.reaches(k + 2):
            raise AssertionError(f"batch {k + 1} was not read while the model worked on batch {k}")
        return batch.rgb

    class WaitingWriter(FakeWriter):
        def write(self, indices, pts, rgb):
            k = indices[0] // size
            if k < last and not started.reaches(k + 2):
                raise AssertionError(f"the model did not start batch {k + 1} while batch {k} was written")
            super().write(indices, pts, rgb)

    writer = WaitingWriter()
    run_pipeline(CountingReader(n), model, writer, batch_size=size, queue_size=1)
    assert writer.got == list(range(n))


@pytest.mark.parametrize("where", ["reader", "model", "writer"])
def test_failure_in_any_stage_reaches_the_caller(where: str) -> None:
    reader = FakeReader(200, fail_at=3 if where == "reader" else None)
    writer = FakeWriter(fail_at=8 if where == "writer" else None)
    calls = [0]

    def process(batch):
        calls[0] += 1
        if where == "model" and calls[0] == 3:
            raise ValueError("model broke")
        return batch.rgb

    expected = {"reader": OSError, "model": ValueError, "writer": OSError}[where]
    with pytest.raises(expected):
        run_pipeline(reader, process, writer, batch_size=4, queue_size=1)
    # Stopped promptly: of the 50 batches, none was read after the failing batch f but the
    # four that fit behind it (two queues of one batch, the model's and the reader's hands).
    f = {"reader": 3, "model": 2, "writer": 2}[where]
    assert reader.read <= f + 5, reader.read
    assert writer.got == list(range(len(writer.got))) and len(writer.got) < 200
    assert reader.closed
    assert no_stray_threads()


def test_keyboard_interrupt_stops_everything() -> None:
    reader = FakeReader(400)

    def process(batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(reader, process, FakeWriter(), batch_size=4)
    assert no_stray_threads()


def test_wrong_output_shape_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="returned"):
        run_pipeline(FakeReader(8), lambda batch: batch.rgb[:, :, :2], FakeWriter(), batch_size=4)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_render_leaves_no_file(clip_audio: Path, tmp_path: Path, exc: BaseException) -> None:
    dest = tmp_path / "out.mp4"
    calls = [0]

    def process(batch):
        calls[0] += 1
        if calls[0] == 3:
            raise exc
        return batch.rgb

    with pytest.raises(type(exc)):
        with FrameReader(clip_audio) as r, FrameWriter(dest, r.info, FAST, range=r.range) as w:
            run_pipeline(r, process, w, batch_size=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip_audio.name]
    assert no_stray_threads()


def test_real_files_through_the_pipeline(clip_vfr: Path, tmp_path: Path) -> None:
    from mediautil import audio_packets, frame_times

    dest = tmp_path / "out.mp4"
    with FrameReader(clip_vfr) as r, FrameWriter(dest, r.info, FAST, range=r.range) as w:
        stats = run_pipeline(r, invert, w, batch_size=3)
    assert stats.frames == 24
    assert frame_times(dest) == frame_times(clip_vfr)
    assert [p for _, p in audio_packets(dest)[0]] == [p for _, p in audio_packets(clip_vfr)[0]]


def test_a_part_of_a_batch_keeps_its_frames_together() -> None:
    rgb, mask = torch.rand(4, 3, 2, 2), torch.rand(4, 1, 2, 2)
    batch = FrameBatch([10, 11, 12, 13], [0, 1, 2, None], [0.4, 0.44, 0.48, 0.52], rgb, {"m": mask})
    part = batch.part(1, 3)
    assert part.indices == [11, 12] and part.pts == [1, 2] and part.times == [0.44, 0.48]
    assert torch.equal(part.rgb, rgb[1:3]) and torch.equal(part.masks["m"], mask[1:3])
