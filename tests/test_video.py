"""Reader -> identity/invert -> writer on synthetic clips: frames, timestamps, audio, ranges."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from conftest import ClipSpec
from mediautil import audio_durations, audio_packets, frame_times, frames_rgb
from vidstyle.errors import SettingsError
from vidstyle.settings import EncodeSettings, Span
from vidstyle.video import (
    FrameReader,
    FrameWriter,
    default_output_path,
    frames_to_tensor,
    parse_frame_range,
    parse_time,
    probe,
    tensor_to_frames,
)


def render(src: Path, dest: Path, process=lambda x: x, batch: int = 4, span: Span = Span(), **encode) -> FrameWriter:
    """Reader -> process -> writer in one thread (the pipeline has its own tests)."""
    with FrameReader(src, span) as reader:
        with FrameWriter(dest, reader.info, EncodeSettings(**encode), range=reader.range) as writer:
            for b in reader.iter_batches(batch):
                writer.write(b.indices, b.pts, process(b.rgb))
    return writer


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".partial" in p.name]


# --------------------------------------------------------------------------- probe


def test_probe_reports_the_basics(clip_audio: Path) -> None:
    info = probe(clip_audio)
    assert (info.width, info.height) == (98, 66)
    assert info.fps == Fraction(30000, 1001)
    assert info.frame_count == 30 and info.frame_count_exact
    assert info.duration == pytest.approx(30 * 1001 / 30000, abs=1e-3)
    assert [a.codec for a in info.audio] == ["aac"]
    assert info.rotation == 0 and not info.has_subtitles


def test_probe_reads_rotation_and_colour(clip_factory) -> None:
    src = clip_factory(ClipSpec("tagged", rotation=90, color=(1, 1, 1, 1), sample_aspect_ratio=Fraction(4, 3)))
    info = probe(src)
    assert info.rotation == 90
    assert info.sample_aspect_ratio == Fraction(4, 3)
    assert (info.color.color_range, info.color.color_primaries, info.color.color_trc, info.color.colorspace) == (
        1, 1, 1, 1,
    )


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fixture", ["clip", "clip_audio", "clip_vfr", "clip_odd", "clip_two_audio"])
def test_identity_round_trip_keeps_frames_times_and_audio(fixture: str, request, tmp_path: Path) -> None:
    src: Path = request.getfixturevalue(fixture)
    dest = tmp_path / "out.mp4"
    writer = render(src, dest, crf=0, preset="ultrafast")

    assert dest.exists() and not partials(tmp_path)
    src_times, out_times = frame_times(src), frame_times(dest)
    assert len(out_times) == len(src_times) == writer.frames_written
    assert out_times == src_times  # exact: the time base and each pts are kept
    src_info, out_info = probe(src), probe(dest)
    frame = float(1 / src_info.fps)
    assert out_info.duration == pytest.approx(src_info.duration, abs=frame)

    # Pixels survive (crf 0 is lossless; only the RGB<->YUV rounding remains).
    diff = np.abs(frames_rgb(dest).astype(int) - frames_rgb(src).astype(int))
    assert diff.mean() < 1.5

    # Audio: present iff in the input, byte-identical, as long as the video.
    src_audio, out_audio = audio_packets(src), audio_packets(dest)
    assert len(out_audio) == len(src_audio)
    for a, b in zip(src_audio, out_audio):
        assert [p for _, p in a] == [p for _, p in b]
    for seconds in audio_durations(dest):
        assert seconds == pytest.approx(out_info.duration, abs=frame + 1024 / 44100)


def test_invert_process_is_applied(clip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "inv.mp4"
    render(clip, dest, process=lambda x: 1 - x, crf=0, preset="ultrafast")
    diff = np.abs(frames_rgb(dest).astype(int) - (255 - frames_rgb(clip).astype(int)))
    assert diff.mean() < 1.5


def test_rotation_sar_and_colour_are_kept(clip_factory, tmp_path: Path) -> None:
    src = clip_factory(ClipSpec("tagged", rotation=90, color=(1, 1, 1, 1), sample_aspect_ratio=Fraction(4, 3)))
    dest = tmp_path / "tagged_out.mp4"
    render(src, dest, preset="ultrafast")
    a, b = probe(src), probe(dest)
    assert (b.rotation, b.sample_aspect_ratio, b.color) == (a.rotation, a.sample_aspect_ratio, a.color)


def test_odd_size_warns_about_444(clip_odd: Path, tmp_path: Path) -> None:
    writer = render(clip_odd, tmp_path / "odd_out.mp4", preset="ultrafast")
    assert probe(tmp_path / "odd_out.mp4").pix_fmt == "yuv444p"
    assert any("odd frame size" in w for w in writer.warnings)


def test_odd_size_with_420_is_refused(clip_odd: Path, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="even frame size"):
        FrameWriter(tmp_path / "o.mp4", probe(clip_odd), EncodeSettings(pix_fmt="yuv420p"))


# --------------------------------------------------------------------------- ranges


def test_frame_range_gives_exactly_those_frames_and_audio(clip_audio: Path, tmp_path: Path) -> None:
    dest = tmp_path / "cut.mp4"
    render(clip_audio, dest, span=Span(frames=(5, 17)), crf=0, preset="ultrafast")
    src_times = frame_times(clip_audio)
    out_times = frame_times(dest)
    assert out_times == [t - src_times[5] for t in src_times[5:17]]
    # The very frames 5..16, in order (crf 0: only RGB<->YUV rounding differs).
    diff = np.abs(frames_rgb(dest).astype(int) - frames_rgb(clip_audio)[5:17].astype(int))
    assert diff.reshape(12, -1).mean(axis=1).max() < 1.5

    # Audio: the input's packets of that slice, untouched, as long as the video.
    t0, t1 = src_times[5], src_times[17]
    want = [p for t, p in audio_packets(clip_audio)[0] if t0 <= t < t1]
    got = [p for _, p in audio_packets(dest)[0]]
    assert got == want
    (seconds,) = audio_durations(dest)
    assert seconds == pytest.approx(float(t1 - t0), abs=float(1001 / 30000))


def test_time_range_and_timecodes(clip_audio: Path, tmp_path: Path) -> None:
    # 29.97 fps: frame 15 is at 0.5005 s, frame 23 at 0.767 s, frame 24 at 0.8008 s.
    with FrameReader(clip_audio, Span(start="0.5", end="00:00:00.8")) as r:
        assert (r.range.first, r.range.stop) == (15, 24)
        assert [i for b in r.iter_batches(4) for i in b.indices] == list(range(15, 24))
    with FrameReader(clip_audio, Span(start="00:00:00:15", end="00:00:00:20")) as r:
        assert (r.range.first, r.range.stop) == (15, 20)


def test_vfr_range_keeps_irregular_spacing(clip_vfr: Path, tmp_path: Path) -> None:
    dest = tmp_path / "vfr_cut.mp4"
    render(clip_vfr, dest, span=Span(frames=(3, 10)), preset="ultrafast")
    src = frame_times(clip_vfr)
    assert frame_times(dest) == [t - src[3] for t in src[3:10]]


def test_range_to_the_end_and_past_it(clip: Path) -> None:
    with FrameReader(clip, Span(start=0.5)) as r:  # 25 fps: frame 13 onward
        assert (r.range.first, r.range.stop) == (13, 24)
    with FrameReader(clip, Span(frames=(20, 999))) as r:
        assert r.expected_frames == 4
    with pytest.raises(SettingsError, match="holds no frame"):
        FrameReader(clip, Span(start=5))
    with pytest.raises(SettingsError, match="past the end"):
        FrameReader(clip, Span(frames=(30, 40)))
    with pytest.raises(SettingsError, match="not both"):
        Span(start=0.1, frames=(0, 3))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("62.5", Fraction(125, 2)), ("1:02.5", Fraction(125, 2)), ("00:01:02.5", Fraction(125, 2)), (3, Fraction(3))],
)
def test_parse_time(text, seconds) -> None:
    assert parse_time(text) == seconds


def test_parse_smpte_counts_nominal_frames() -> None:
    assert parse_time("00:00:01:12", Fraction(24)) == Fraction(3, 2)
    # Non-drop timecode at 29.97: 30 frames per timecode second.
    assert parse_time("00:00:01:00", Fraction(30000, 1001)) == Fraction(30 * 1001, 30000)


@pytest.mark.parametrize("bad", ["abc", "-1", "00:00:01:40", "1:75"])
def test_parse_time_rejects(bad: str) -> None:
    with pytest.raises(SettingsError):
        parse_time(bad, Fraction(25))


def test_parse_frame_range() -> None:
    assert parse_frame_range("10:20") == (10, 20)
    for bad in ("20:10", "5", "a:b"):
        with pytest.raises(SettingsError):
            parse_frame_range(bad)


# --------------------------------------------------------------------------- conversions


def test_conversions_round_trip_exactly() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    t = frames_to_tensor(list(arr))
    assert t.shape == (2, 3, 5, 7) and t.dtype == torch.float32
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert np.array_equal(tensor_to_frames(t), arr)
    assert tensor_to_frames(torch.full((1, 3, 2, 2), 2.0)).max() == 255  # clamped


# --------------------------------------------------------------------------- codecs and audio


@pytest.mark.parametrize(
    ("codec", "suffix"),
    [("libx265", ".mp4"), ("libvpx-vp9", ".webm"), ("av1", ".mp4"), ("prores", ".mov")],
)
def test_other_codecs(codec: str, suffix: str, clip_factory, tmp_path: Path) -> None:
    if codec == "av1" and not {"libsvtav1", "libaom-av1"} & av.codecs_available:
        pytest.skip("no AV1 encoder in this build")
    src = clip_factory(ClipSpec("small", width=64, height=48, frames=6, audio=((48000, "aac"),)))
    dest = tmp_path / f"out{suffix}"
    writer = render(src, dest, codec=codec, preset="ultrafast", crf=30)
    assert len(frame_times(dest)) == 6
    assert len(audio_packets(dest)) == 1
    if suffix == ".webm":  # AAC cannot go into WebM: re-encoded to Opus, with a warning
        assert any("re-encoded" in w for w in writer.warnings)
        assert probe(dest).audio[0].codec == "opus"


def test_codec_container_mismatch_and_unknown(clip: Path, tmp_path: Path) -> None:
    info = probe(clip)
    with pytest.raises(SettingsError, match="cannot go into"):
        FrameWriter(tmp_path / "x.webm", info, EncodeSettings(codec="libx264"))
    with pytest.raises(SettingsError, match="unknown codec"):
        FrameWriter(tmp_path / "x.mp4", info, EncodeSettings(codec="nope"))
    with pytest.raises(SettingsError, match="crf"):
        FrameWriter(tmp_path / "x.mp4", info, EncodeSettings(crf=99))
    with pytest.raises(SettingsError, match="extension"):
        FrameWriter(tmp_path / "x.gif", info)


def test_pcm_audio_into_mp4_is_reencoded(clip_factory, tmp_path: Path) -> None:
    src = clip_factory(ClipSpec("pcm", suffix=".mkv", frames=10, audio=((48000, "pcm_s16le"),)))
    writer = render(src, tmp_path / "pcm.mp4", preset="ultrafast")
    assert probe(tmp_path / "pcm.mp4").audio[0].codec == "aac"
    assert any("re-encoded as aac" in w for w in writer.warnings)


def test_default_output_path() -> None:
    assert default_output_path("a/walk.avi") == Path("a/walk_styled.mp4")
    assert default_output_path("a/walk.mp4", codec="libvpx-vp9") == Path("a/walk_styled.webm")
    assert default_output_path("a/walk.mov", codec="prores") == Path("a/walk_styled.mov")


# --------------------------------------------------------------------------- x264's own options


def _x264_settings(path: Path) -> str:
    """The options string x264 writes into the first frame's SEI."""
    with av.open(str(path)) as c:
        data = bytes(next(c.demux(video=0)))
    start = data.index(b"x264 - core")
    return data[start : data.index(b"\x00", start)].decode("ascii", "replace")


def test_x264_params_reach_the_encoder_and_nothing_else(clip: Path, tmp_path: Path) -> None:
    render(clip, tmp_path / "veryfast.mp4", preset="veryfast")
    render(clip, tmp_path / "lean.mp4", preset="veryfast", x264_params="me=dia:partitions=i8x8,i4x4")
    plain, lean = _x264_settings(tmp_path / "veryfast.mp4"), _x264_settings(tmp_path / "lean.mp4")
    assert " me=hex " in plain and " me=dia " in lean
    # Everything the params do not name stays the preset's.
    assert plain.split(" subme=")[1].split()[0] == lean.split(" subme=")[1].split()[0]
    h265 = render(clip, tmp_path / "h265.mp4", codec="libx265", preset="ultrafast", x264_params="me=dia")
    assert h265.frames_written == probe(clip).frame_count


@pytest.mark.parametrize("params", ["me = dia", "", 3])
def test_malformed_x264_params_are_settings_errors(params) -> None:
    with pytest.raises(SettingsError, match="x264 params"):
        EncodeSettings(x264_params=params)
