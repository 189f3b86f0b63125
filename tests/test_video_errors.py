"""Every way a render can go wrong gives one clear error and leaves nothing behind."""
from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import FAST, ClipSpec
from vidstyle.errors import InputError, OutputError, RenderError
from vidstyle.settings import Span
from vidstyle.video import FrameReader, FrameWriter, probe


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "nope.mp4")


def test_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        probe(tmp_path)


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a video"):
        probe(text)


def test_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(a.encode(frame))
        out.mux(a.encode())
    with pytest.raises(InputError, match="no video stream"):
        probe(path)


def test_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.y4m"
    path.write_bytes(b"YUV4MPEG2 W64 H64 F25:1 Ip A1:1 C420jpeg\n")  # a header, no frame
    with pytest.raises(InputError, match="no frames"):
        probe(path)


def test_truncated_file_without_index(clip_factory, tmp_path: Path) -> None:
    src = clip_factory(ClipSpec("whole", frames=40))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])  # loses the index at the end
    with pytest.raises(InputError, match="not a video FFmpeg can read"):
        probe(cut)


def test_truncated_file_with_index_fails_the_render(clip_factory, tmp_path: Path) -> None:
    src = clip_factory(ClipSpec("fast", frames=40, faststart=True))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 3])
    dest = tmp_path / "out.mp4"
    with pytest.raises(RenderError, match="truncated"):
        with FrameReader(cut) as r, FrameWriter(dest, r.info, FAST, range=r.range) as w:
            for b in r.iter_batches(4):
                w.write(b.indices, b.pts, b.rgb)
    assert not dest.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_corrupt_frame_names_its_index(clip_factory, tmp_path: Path) -> None:
    src = clip_factory(ClipSpec("fast", frames=50, faststart=True))
    data = bytearray(src.read_bytes())
    rng = random.Random(3)
    for k in range(len(data) // 2, len(data) // 2 + 600):
        data[k] = rng.randrange(256)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(RenderError, match=r"frame \d+ at [\d.]+ s failed to decode"):
        with FrameReader(bad) as r:
            for _ in r.iter_batches(4):
                pass


# --------------------------------------------------------------------------- destinations


def test_destination_folder_missing(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        FrameWriter(tmp_path / "no" / "out.mp4", probe(clip))


def test_destination_folder_is_a_file(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        FrameWriter(tmp_path / "file" / "out.mp4", probe(clip))


def test_existing_output_is_kept_without_overwrite(clip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists"):
        FrameWriter(dest, probe(clip))
    assert dest.read_bytes() == b"precious"


def test_overwrite_replaces(clip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"old")
    with FrameReader(clip) as r, FrameWriter(dest, r.info, FAST, overwrite=True) as w:
        for b in r.iter_batches(8):
            w.write(b.indices, b.pts, b.rgb)
    assert probe(dest).frame_count == 24


@pytest.mark.parametrize("overwrite", [False, True])
def test_output_is_the_input(clip: Path, overwrite: bool) -> None:
    before = clip.read_bytes()
    with pytest.raises(OutputError, match="is the input"):
        FrameWriter(clip, probe(clip), overwrite=overwrite)
    with pytest.raises(OutputError, match="is the input"):
        FrameWriter(clip.parent / "." / clip.name, probe(clip), overwrite=overwrite)
    assert clip.read_bytes() == before


def test_unwritable_folder_while_opening(clip: Path, tmp_path: Path, monkeypatch) -> None:
    # Root ignores permission bits, so simulate the refusal where it happens.
    import vidstyle.outputs as outputs

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(outputs.os, "open", refuse)
    with pytest.raises(OutputError, match="cannot write into"):
        with FrameWriter(tmp_path / "out.mp4", probe(clip)):
            pass


@pytest.mark.parametrize("exc", [RuntimeError("model broke"), KeyboardInterrupt()])
def test_interrupted_write_leaves_nothing(clip_audio: Path, tmp_path: Path, exc: BaseException) -> None:
    dest = tmp_path / "out.mp4"
    before = clip_audio.read_bytes()
    with pytest.raises(type(exc)):
        with FrameReader(clip_audio) as r, FrameWriter(dest, r.info, FAST) as w:
            for k, b in enumerate(r.iter_batches(4)):
                if k == 2:
                    raise exc
                w.write(b.indices, b.pts, b.rgb)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip_audio.name]
    assert clip_audio.read_bytes() == before


def test_disk_full_is_an_output_error(clip: Path, tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "out.mp4"
    with pytest.raises(OutputError, match="disk is full"):
        with FrameReader(clip) as r, FrameWriter(dest, r.info, FAST) as w:
            monkeypatch.setattr(w, "_out", _FullDisk(w._out))
            for b in r.iter_batches(4):
                w.write(b.indices, b.pts, b.rgb)
    assert not dest.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]


class _FullDisk:
    """An output container whose disk fills up at the first packet."""

    def __init__(self, real) -> None:
        self._real = real

    def mux(self, packet) -> None:
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        self._real.close()


def test_missing_frame_is_refused(clip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    with pytest.raises(RenderError, match="frame 4 is missing"):
        with FrameReader(clip) as r, FrameWriter(dest, r.info, FAST) as w:
            for k, b in enumerate(r.iter_batches(4)):
                if k != 1:  # skip the second batch
                    w.write(b.indices, b.pts, b.rgb)
    assert not dest.exists()


def test_short_range_is_refused_at_close(clip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    with pytest.raises(RenderError, match="wrote 4 frames but the range has 8"):
        with FrameReader(clip, Span(frames=(0, 8))) as r, FrameWriter(dest, r.info, range=r.range) as w:
            b = next(iter(r.iter_batches(4)))
            w.write(b.indices, b.pts, b.rgb)
    assert not dest.exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
