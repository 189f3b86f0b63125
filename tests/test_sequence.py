"""Image sequences in and out: formats and bit depth, frame numbers, colour, gaps, atomic output, farm.

Sequences are 8 frames of 64x48 written by FFmpeg's own image encoders
(``conftest.make_sequence``); results are read back independently of
vidstyle.video (``mediautil.read_image``, ``mediautil.exr_channel_types``).
"""
from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import LOSSLESS, make_clip, make_sequence, ClipSpec, sequence_picture
from mediautil import exr_channel_types, frame_times, frames_rgb, read_image
from vidstyle._cli import main
from vidstyle.errors import InputError, OutputError, RenderError, SettingsError
from vidstyle.render import stylize_video
from vidstyle.settings import ModelSettings, SequenceSettings, Span, StyleSettings
from vidstyle.video import FrameReader, probe, writer_for
from vidstyle.video.sequence import parse_pattern, srgb_decode, srgb_encode

DATA = Path(__file__).parent / "data"
STYLE = StyleSettings(styles=[DATA / "chelsea.jpg"])
MODEL = ModelSettings(size=64, device="cpu", batch=2)


def copy_through(src: str, dest: str, span: Span = Span(), sequence: SequenceSettings = SequenceSettings(),
                 **kwargs):
    """Reader -> identity -> writer (no model): what the sequence I/O itself does to pixels and names."""
    info = probe(src, sequence)
    with FrameReader(src, span, info=info) as reader:
        with writer_for(dest, info, range=reader.range, sequence=sequence, **kwargs) as writer:
            for b in reader.iter_batches(3):
                writer.write(b.indices, b.pts, b.rgb)
    return writer


def files(folder: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------- names


def test_patterns_printf_and_hashes() -> None:
    p = parse_pattern("a/plate.%04d.exr")
    assert (p.prefix, p.suffix, p.padding, p.name(7), p.name(12345)) == ("plate.", ".exr", 4, "plate.0007.exr",
                                                                        "plate.12345.exr")
    h = parse_pattern("plate.####.dpx")
    assert h.name(1001) == "plate.1001.dpx" and h.match("plate.1001.dpx") == 1001
    assert h.match("plate.01001.dpx") is None and h.match("plate.1001.dpx.bak") is None
    assert parse_pattern("shot_%d.png").name(5) == "shot_5.png"
    assert parse_pattern("clip.mp4") is None
    with pytest.raises(SettingsError, match="one frame number"):
        parse_pattern("a_%04d_%04d.png")


def test_srgb_curve_round_trip() -> None:
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.abs(srgb_decode(srgb_encode(x)) - x).max() < 1e-5
    assert srgb_encode(np.array([0.18], np.float32))[0] == pytest.approx(0.4614, abs=1e-4)
    assert srgb_encode(np.array([5.0, -1.0, np.nan], np.float32)).tolist() == [1.0, 0.0, 0.0]


# --------------------------------------------------------------------------- formats and depth


@pytest.mark.parametrize("ext,sample,out_fmt", [
    ("exr", "half", "gbrpf16le"), ("exr", "float", "gbrpf32le"), ("dpx", "uint10", "gbrp10le"),
    ("dpx", "uint16", "rgb48le"), ("png", "uint8", "rgb24"), ("png", "uint16", "rgb48be"),
    ("tif", "uint8", "rgb24"), ("tif", "uint16", "rgb48le"),
])
def test_round_trip_keeps_numbers_depth_and_pixels(sequence_factory, tmp_path: Path, ext, sample, out_fmt) -> None:
    src = sequence_factory(ext, sample, frames=4, start=1001, token="####")
    dest = tmp_path / "out" / f"styled.%04d.{ext}"
    dest.parent.mkdir()
    copy_through(src, str(dest))
    assert files(dest.parent, "styled") == [f"styled.{n}.{ext}" for n in range(1001, 1005)]
    for i, n in enumerate(range(1001, 1005)):
        fmt, got = read_image(dest.parent / f"styled.{n}.{ext}")
        assert fmt == out_fmt
        want = sequence_picture(i, 64, 48, sample)
        if sample in ("half", "float"):
            # Scene-linear: clipped to [0, 1] for the network, back to linear on writing.
            tolerance = 2e-3 if sample == "half" else 1e-5
            assert np.abs(got - np.clip(want, 0, 1)).max() < tolerance
        elif sample == "uint10":
            assert np.abs(got.astype(int) // 64 - want.astype(int) // 64).max() <= 1  # 10 bits, in 16-bit units
        else:
            assert np.array_equal(got, want)  # integer code values survive exactly
    if ext == "exr":
        assert set(exr_channel_types(dest.parent / f"styled.1001.{ext}").values()) == {sample}


def test_exr_display_referred_passes_values_through(sequence_factory, tmp_path: Path) -> None:
    src = sequence_factory("exr", "float", frames=2)
    copy_through(src, str(tmp_path / "d.%04d.exr"), sequence=SequenceSettings(transfer="display"))
    _, got = read_image(tmp_path / "d.1001.exr")
    assert np.abs(got - np.clip(sequence_picture(0, 64, 48, "float"), 0, 1)).max() < 1e-6
    # Scene-linear by default: the network saw the sRGB-encoded picture.
    info = probe(src)
    with FrameReader(src, info=info) as reader:
        seen = next(reader.iter_batches(1)).rgb[0].permute(1, 2, 0).numpy()
    assert np.abs(seen - srgb_encode(sequence_picture(0, 64, 48, "float"))).max() < 1e-6


def test_video_to_sequence_and_back(clip: Path, tmp_path: Path) -> None:
    copy_through(str(clip), str(tmp_path / "v.####.png"))
    names = files(tmp_path, "v.")
    assert names[0] == "v.0001.png" and len(names) == 24  # a video's frames are numbered from 1, as FFmpeg does
    assert read_image(tmp_path / "v.0001.png")[0] == "rgb24"  # an 8-bit video gives 8-bit PNGs
    assert np.array_equal(read_image(tmp_path / "v.0001.png")[1], frames_rgb(clip)[0])
    out = tmp_path / "back.mp4"
    from vidstyle.settings import EncodeSettings

    copy_through(str(tmp_path / "v.%04d.png"), str(out), sequence=SequenceSettings(fps="25"),
                 encode=EncodeSettings(crf=0, preset="ultrafast"))
    assert frame_times(out) == [Fraction(i, 25) for i in range(24)]


# --------------------------------------------------------------------------- errors


def test_missing_or_empty_frame_is_an_error_before_rendering(sequence_factory, tmp_path: Path) -> None:
    src = sequence_factory("png", "uint8", frames=8)
    folder = Path(src).parent
    (folder / "plate_png_uint8.1004.png").unlink()
    result = CliRunner().invoke(main, ["run", src, "--style", str(DATA / "chelsea.jpg"), "-o",
                                       str(tmp_path / "o.%04d.png")])
    assert result.exit_code == 2
    assert "frame 1004 of 1001-1008 is missing (plate_png_uint8.1004.png)" in result.output
    assert "Traceback" not in result.output and not list(tmp_path.glob("o.*"))
    (folder / "plate_png_uint8.1004.png").write_bytes(b"")
    with pytest.raises(InputError, match="plate_png_uint8.1004.png is empty"):
        probe(src)


def test_output_never_touches_input_frames(sequence_factory, tmp_path: Path) -> None:
    src = sequence_factory("png", "uint16", frames=3)
    before = digest(Path(src).parent)
    with pytest.raises(OutputError, match="input's own frames"):
        copy_through(src, src.replace("%04d", "####"), overwrite=True)
    # Another pattern whose names are the input's files.
    with pytest.raises(OutputError, match="would replace a frame of the input"):
        copy_through(src, str(Path(src).parent / "plate_png_uint16.%d.png"), overwrite=True)
    assert digest(Path(src).parent) == before
    copy_through(src, str(tmp_path / "o.%04d.png"))
    with pytest.raises(OutputError, match="already exists"):
        copy_through(src, str(tmp_path / "o.%04d.png"))


def test_failed_render_leaves_no_frames(stylizer, sequence_factory, tmp_path: Path) -> None:
    src = sequence_factory("exr", "half", frames=6)
    before = digest(Path(src).parent)
    out = tmp_path / "out"
    out.mkdir()

    def interrupt(done: int, total) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_video(src, out / "s.%04d.exr", STYLE, model=MODEL, stylizer=stylizer, on_progress=interrupt)
    assert list(out.iterdir()) == []  # neither frames nor the hidden folder they were written in
    assert digest(Path(src).parent) == before


# --------------------------------------------------------------------------- renders, ranges, masks, timelines


def test_render_a_range_of_a_sequence(stylizer, sequence_factory, tmp_path: Path) -> None:
    src = sequence_factory("dpx", "uint10", frames=8)
    result = stylize_video(src, tmp_path / "s.####.dpx", STYLE, model=MODEL, span=Span(frames=(2, 6)),
                           sequence=SequenceSettings(fps=25), stylizer=stylizer)
    assert result.frames == 4 and result.warnings == []
    assert files(tmp_path, "s.") == [f"s.{n}.dpx" for n in range(1003, 1007)]  # the input's numbers
    assert read_image(tmp_path / "s.1003.dpx")[0] == "gbrp10le"
    # Without a rate: 24 fps, and a warning says so.
    again = stylize_video(src, tmp_path / "t.####.png", STYLE, model=MODEL, span=Span(frames=(0, 1)),
                          stylizer=stylizer)
    assert any("24 fps assumed" in w for w in again.warnings)


def test_mask_sequence_and_timeline_on_a_sequence(stylizer, sequence_factory, tmp_path: Path) -> None:
    src = sequence_factory("png", "uint8", frames=6)
    mask = make_sequence(tmp_path / "masks", "m", "png", "uint8", frames=6, start=1)
    timeline = tmp_path / "t.toml"
    timeline.write_text(f'[[keyframe]]\nframe = 0\nstyle = "{DATA / "chelsea.jpg"}"\nmasks = ["masks/m.%04d.png"]\n'
                        f'[[keyframe]]\nat = 0.2\nstyle = "{DATA / "coffee.jpg"}"\ntransition = 0\n'
                        f'masks = ["masks/m.%04d.png"]\n')
    result = stylize_video(src, tmp_path / "s.%04d.png", StyleSettings(timeline=timeline), model=MODEL,
                           sequence=SequenceSettings(fps=25), stylizer=stylizer)
    assert result.frames == 6
    short = make_sequence(tmp_path / "short", "m", "png", "uint8", frames=5, start=1)
    with pytest.raises(InputError, match="has 5 frames but .* has 6"):
        stylize_video(src, tmp_path / "u.%04d.png", StyleSettings(styles=[DATA / "chelsea.jpg"], masks=[short]),
                      model=MODEL, stylizer=stylizer)


def test_shots_of_a_sequence(tmp_path: Path) -> None:
    from mediautil import write_image
    from vidstyle.shots import detect_shots

    folder = tmp_path / "cut"
    folder.mkdir()
    for i in range(30):
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., 0 if i < 15 else 2] = 220
        img[..., 1] = (np.arange(64)[None, :] * 3 + i) % 256
        write_image(folder / f"c.{i + 1:04d}.png", img, "png", "rgb24")
    shots = detect_shots(folder / "c.%04d.png", device="cpu", sequence=SequenceSettings(fps=24))
    assert shots.cuts == (15,) and shots.fps == 24 and shots.cut_times == (0.625,)


# --------------------------------------------------------------------------- farm


def test_farm_chunks_write_sequence_frames_in_place(random_weights, sequence_factory, tmp_path: Path) -> None:
    from vidstyle.farm import assemble, load_plan, make_plan, render_chunk
    from vidstyle.farm.chunk import get_stylizer
    from vidstyle.farm.executors import run_job

    src = sequence_factory("exr", "half", frames=5)
    (tmp_path / "farm").mkdir()
    (tmp_path / "single").mkdir()
    job = tmp_path / "job.toml"
    job.write_text(f'chunk_frames = 2\n[[render]]\ninput = "{src}"\noutput = "farm/s.####.exr"\n'
                   f'style = "{DATA / "chelsea.jpg"}"\nsize = 64\ndevice = "cpu"\nbatch = 1\nfps = 25\n')
    plan = make_plan(job)
    assert [c.file for c in plan.chunks][:1] == ["r00-plate_exr_half/chunk-0000.frames"]
    render_chunk(plan, 1)
    assert files(tmp_path / "farm", "s.") == ["s.1003.exr", "s.1004.exr"]  # written in place, nothing to join
    marker = json.loads((plan.folder / "r00-plate_exr_half" / "chunk-0001.done.json").read_text())
    assert [Path(f).name for f in marker["files"]] == ["s.1003.exr", "s.1004.exr"]
    report = run_job(job)
    assert report.skipped == 1 and len(report.rendered) == 2 and report.assembled[0].frames == 5
    # The same frames as a single run with the same batch, byte for byte.
    single = ModelSettings(size=64, device="cpu", batch=1)
    stylize_video(src, tmp_path / "single" / "s.####.exr", STYLE, model=single, sequence=SequenceSettings(fps=25),
                  stylizer=get_stylizer(single))  # the farm's own model, loaded once in this process
    assert digest(tmp_path / "farm") == digest(tmp_path / "single")
    # A frame changed after the render: the chunk is no longer done, assembling says which.
    (tmp_path / "farm" / "s.1005.exr").write_bytes(b"x")
    with pytest.raises(RenderError, match="chunk 2"):
        assemble(load_plan(plan.folder), force=True)
    # Planning again over frames that are not this plan's needs overwrite.
    (tmp_path / "farm" / "s.1005.exr").unlink()
    other = tmp_path / "other.toml"
    other.write_text(job.read_text().replace("fps = 25", "fps = 24"))
    with pytest.raises(OutputError, match="already exists"):
        make_plan(other)
    assert make_plan(other, overwrite=True).renders[0].spec.sequence.fps == 24
