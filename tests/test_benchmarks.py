"""The benchmark scripts write their own reports: a section of RESULTS.md each, with the command and the machine.

The section writer runs in every test run; the scripts themselves, end to end at toy
sizes, only with ``--runslow`` (they take tens of seconds and measure nothing worth keeping).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402

HAND = "# Results\n\nWritten by hand, kept.\n"


def test_a_section_is_replaced_in_place_and_the_rest_is_kept() -> None:
    text = report.replace_section(HAND, "bench_video/cpu-1080p", "old 1080p")
    text = report.replace_section(text, "bench_video/cpu", "first") + "\nAlso by hand.\n"
    assert text.index("old 1080p") < text.index("first")  # appended, in order

    again = report.replace_section(text, "bench_video/cpu-1080p", "new 1080p $1 \\1")  # taken literally
    assert "old 1080p" not in again and "new 1080p $1 \\1" in again
    assert again.startswith(HAND) and again.endswith("\nAlso by hand.\n")
    # A section whose name begins the same is another section: untouched, and not swallowed.
    assert "first" in again and again.count("<!-- begin ") == again.count("<!-- end ") == 2
    assert report.replace_section(again, "bench_video/cpu-1080p", "new 1080p $1 \\1") == again
    assert report.replace_section("", "bench_image/cpu", "x").startswith("<!-- begin bench_image/cpu: ")


def test_the_header_names_the_command_and_reads_the_machine(monkeypatch) -> None:
    import argparse

    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "bench_image.py"), "--note", "two words"])
    text = report.header(argparse.Namespace(note="two words"))
    assert "Command: `python benchmarks/bench_image.py --note 'two words'`" in text
    assert "Machine: CPU " in text and "logical CPUs" in text and "torch " in text
    assert "Load: two words; load average " in text


def _run(script: str, *args: str, tmp_path: Path) -> str:
    results = tmp_path / "RESULTS.md"
    results.write_text(HAND)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--note", "toy run",
                           "--results", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = results.read_text()
    assert text.startswith(HAND)
    assert f"Command: `python benchmarks/{script} " in text and "Load: toy run; load average" in text
    assert "Machine: CPU " in text and "torch " in text
    return text


@pytest.mark.slow
def test_bench_image_writes_its_section(tmp_path: Path) -> None:
    text = _run("bench_image.py", "--size", "64", "--repeats", "1", tmp_path=tmp_path)
    assert "<!-- begin bench_image/cpu: " in text and "| decoder |" in text


@pytest.mark.slow
def test_bench_video_writes_one_section_per_resolution(tmp_path: Path) -> None:
    text = _run("bench_video.py", "--size", "64", "--frames", "0:4", "--repeats", "1", tmp_path=tmp_path)
    assert "<!-- begin bench_video/cpu-native: " in text and "4 frames (0:4)" in text


@pytest.mark.slow
def test_bench_farm_measures_the_single_render_beside_the_farm(tmp_path: Path) -> None:
    text = _run("bench_farm.py", "--frames", "12", "--width", "64", "--height", "48", "--size", "64",
                "--chunk-frames", "6", "--device", "cpu", "--random-decoder", "--executors", "local",
                tmp_path=tmp_path)
    assert "<!-- begin bench_farm/cpu: " in text and "| single | " in text and "| farm local | " in text


@pytest.mark.slow
def test_bench_model_writes_its_section(tmp_path: Path) -> None:
    text = _run("bench_model.py", "--device", "cpu", "--resolutions", "64x48", "--batches", "1", "--dtypes", "fp32",
                "--repeats", "1", tmp_path=tmp_path)
    assert "<!-- begin bench_model/cpu: " in text and "| 64x48 | fp32 | 1 |" in text


@pytest.mark.slow
def test_bench_shots_writes_the_whole_report(tmp_path: Path) -> None:
    pytest.importorskip("scenedetect", reason="bench_shots needs pip install -e '.[bench]'")
    sources = Path("/tmp/vidstyle-pkgcache/x")
    if not (sources / "opencv-doc_4.6.0+dfsg-12").is_dir():
        pytest.skip("bench_shots needs the extracted opencv-doc package (see its docstring)")
    out = tmp_path / "RESULTS-shots.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_shots.py"), "--clips", "1", "--segments",
                           "4", "--seed", "3", "--model-frames", "0", "--sources", str(sources), "--note", "toy run",
                           "--results", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("# Shot detection: vidstyle vs PySceneDetect\n\nCommand: `python benchmarks/bench_shots.py ")
    assert "were not seen while tuning" in text and "source cuts (" in text and "every other frame (" in text


@pytest.mark.slow
def test_bench_encoder_compares_the_cpu_default_with_plain_veryfast(tmp_path: Path) -> None:
    text = _run("bench_encoder.py", "--size", "64", "--frames", "4", "--repeats", "1", "--resolution", "native",
                tmp_path=tmp_path)
    assert "<!-- begin bench_encoder/cpu-native: " in text
    assert "| veryfast | " in text and "| vidstyle's CPU default: veryfast + me=dia" in text


@pytest.mark.slow
def test_bench_phase_compares_each_frame_with_itself_at_other_grid_phases(tmp_path: Path) -> None:
    text = _run("bench_phase.py", "--size", "64", "--frames", "2", "--every", "2", "--clips", "moving camera",
                tmp_path=tmp_path)
    assert "<!-- begin bench_phase/cpu-64: " in text and "| moving camera | 1 | " in text
    assert "| static camera |" not in text
    # The network is not equivariant to shifts by a fraction of its grid: the phase error is not zero.
    row = next(line for line in text.splitlines() if line.startswith("| moving camera |"))
    assert 0.0 < float(row.split("|")[-2]) < 1.0


def test_bench_flicker_splits_the_warping_error_by_the_source_motion() -> None:
    import torch

    import bench_flicker

    # Two pairs on a 4x4 picture: the left half moves 2 px a frame (the flow says so), the right half stands still.
    back = torch.zeros(1, 2, 4, 4)
    back[:, 0, :, :2] = 2.0
    valid = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    valid[..., 0, 3] = False  # an occluded pixel counts nowhere
    m = bench_flicker.Measure(back=[back, back, back], valid=[valid, valid, valid], skip={1})
    frames = torch.zeros(4, 3, 4, 4)
    frames[1, :, :, 2:] = 3 / 255  # the still half changes by 3 levels from frame 0 to 1
    frames[1, :, :, :2] = 2 / 255  # the moving half by 2 (what it is sampled from, frame 0's right half, is 0)
    frames[3, :, :, 2:] = 1 / 255  # pair (1, 2) is skipped; from frame 2 to 3 the still half changes by 1 level
    (e_still, n_still), (e_slow, n_slow), (e_moving, n_moving) = m.by_motion(frames)
    assert (n_still, n_slow, n_moving) == (14, 0, 16)  # 7 + 7 still and 8 + 8 moving valid pixels, two kept pairs
    assert e_still == pytest.approx(7 * 3 + 7 * 1, rel=1e-5) and e_slow == 0
    assert e_moving == pytest.approx(8 * 2 + 8 * 0, rel=1e-5)
    # The whole sequence's error is the same pixels' mean (both kept pairs have 15 valid pixels).
    assert m.error(frames) == pytest.approx((e_still + e_moving) / 30, rel=1e-5)

    infos = {"clip": {"bands": {"source": [(14.0, 14), (0.0, 0), (16.0, 16)], "method": [(28.0, 14), (0.0, 0), (4.0, 16)]}}}
    table = bench_flicker.split_table(infos)
    assert "| clip | source | 1.00, 46.7% of the pixels | 0.00, 0.0% of the pixels | 1.00, 53.3% of the pixels |" in table
    assert "| clip | method | 2.00 (x2.00), 88% | 0.00 (x0.00), 0% | 0.25 (x0.25), 12% |" in table


def test_bench_glued_cuts_frames_out_the_way_the_moving_clip_was_cut() -> None:
    import numpy as np
    import torch
    from PIL import Image

    import bench_glued

    # A smooth picture (Pillow's 8-bit Lanczos clips its overshoots between its two passes; noise would overshoot).
    coarse = torch.rand(1, 3, 8, 10, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    smooth = torch.nn.functional.interpolate(coarse, size=(60, 80), mode="bilinear", align_corners=True)
    photo = (smooth[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    picture = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    # A box of the output's own size at whole-pixel offsets is a plain crop.
    crop = bench_glued.cut_out(picture, [(5, 7, 37, 31)], (32, 24))
    assert torch.allclose(crop[0], picture[:, 7:31, 5:37], atol=1e-6)
    # A moving, shrinking box: the same frames as make_steady_clips cuts from the 8-bit photograph, to its rounding
    # (Pillow rounds to 8 bits after each of its two passes).
    boxes = [(3.3, 2.7, 53.3, 40.2), (4.1, 3.05, 52.1, 39.05)]
    frames = bench_glued.cut_out(picture, boxes, (32, 24))
    for box, frame in zip(boxes, frames):
        made = np.asarray(Image.fromarray(photo).resize((32, 24), Image.Resampling.LANCZOS, box=box), dtype=np.float32) / 255
        assert np.abs(frame.permute(1, 2, 0).numpy() - made).max() <= 1.5 / 255
    assert bench_glued.scaled(boxes[:1], 2.0, 0.5) == [(6.6, 1.35, 106.6, 20.1)]


def test_bench_flicker_scores_without_a_margin_ignore_the_edges() -> None:
    import torch

    import bench_flicker
    from vidstyle.stylize import Stylizer

    st = Stylizer(device="cpu", size=64)
    whole, inner = bench_flicker.Quality(st, bench_flicker.DEFAULT_STYLE), bench_flicker.Quality(st, bench_flicker.DEFAULT_STYLE, margin=8)
    src = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    out = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    edged = out.clone()
    edged[..., :8, :] = 1.0  # the edges changed, the inside not
    edged[..., :, -8:] = 0.0
    assert inner.frame(("a", 0), edged, src) == pytest.approx(inner.frame(("a", 0), out, src), rel=1e-6)
    assert whole.frame(("a", 0), edged, src) != pytest.approx(whole.frame(("a", 0), out, src), rel=1e-3)
    # Without a margin the inner score is the whole one of the cropped frames.
    crop = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert inner.frame(("b", 0), out, src) == pytest.approx(whole.frame(("b", 0), out[crop], src[crop]), rel=1e-6)


def test_bench_flicker_does_not_score_the_frames_where_a_shot_starts() -> None:
    import bench_flicker

    # Frame 0 and a cut at 12 have no past: every method draws them as "off" does.
    assert bench_flicker.scored_frames(24, 4, [i in (0, 12) for i in range(24)]) == [4, 8, 16, 20]
    assert bench_flicker.scored_frames(6, 2, [i == 0 for i in range(6)]) == [2, 4]
    assert bench_flicker.scored_frames(3, 1, [False] * 3) == [0, 1, 2]


def test_bench_flicker_scores_by_window_take_each_windows_own_pairs_and_frames() -> None:
    import bench_flicker

    # Five frames, windows of two: pairs 0 | 1, 2 (2 is a cut, left out) | 3, frames 0, 1 | 2, 3 | 4.
    errors, floors = [2.0, 4.0, None, 6.0], [1.0, 1.0, 1.0, 2.0]
    scores = {0: (1.0, 0.5), 2: (2.0, 0.5), 3: (4.0, 0.3), 4: (3.0, 0.1)}
    assert bench_flicker.by_window(errors, floors, scores, 2) == [(2.0, 1.0, 0.5), (4.0, 3.0, 0.4), (3.0, 3.0, 0.1)]
    # One window: the whole clip's ratio (sum over sum) and means.
    ((ratio, structure, style),) = bench_flicker.by_window(errors, floors, scores, 5)
    assert ratio == 12.0 / 4.0 and structure == 2.5 and style == pytest.approx(1.4 / 4)
    # A window without a scored frame is None: the k-th entry stays frames 2k on.
    assert bench_flicker.by_window(errors, floors, {4: (3.0, 0.1)}, 2) == [None, None, (3.0, 3.0, 0.1)]


def test_bench_glued_carries_the_first_frame_along_the_camera_move() -> None:
    import torch

    import bench_glued

    first = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    fresh = torch.full((3, 3, 12, 16), 0.5)
    # Boxes of a photograph at 2 photo px per frame px, moving 4 photo px (2 frame px) right, then 2 down.
    boxes = [(0, 0, 32, 24), (4, 0, 36, 24), (4, 2, 36, 26)]
    for mode in ("lanczos", "bicubic"):
        out = bench_glued.carried(first, fresh, boxes, mode)
        assert torch.equal(out[0], first[0])
        assert torch.allclose(out[1, :, :, :14], first[0, :, :, 2:], atol=1e-5)  # whole-pixel moves are exact
        assert torch.equal(out[1, :, :, 14:], fresh[1, :, :, 14:])  # what enters at the edge is the new frame's
        assert torch.allclose(out[2, :, :11, :14], first[0, :, 1:, 2:], atol=1e-5)
        assert torch.equal(out[2, :, 11:], fresh[2, :, 11:])


def test_bench_glued_fits_the_camera_move_from_the_flow() -> None:
    import torch

    import bench_glued

    coarse = torch.rand(1, 3, 30, 40, generator=torch.Generator().manual_seed(0))
    picture = torch.nn.functional.interpolate(coarse, size=(150, 200), mode="bicubic", align_corners=False)[0].clamp(0, 1)
    # A pan with a zoom in: 1.5 picture px per frame px at first, 1% less every frame, moving right and down.
    boxes = []
    for t in range(4):
        s = 1.5 * 0.99**t
        left, top = 30 + 2.6 * t, 20 + 1.3 * t
        boxes.append((left, top, left + 96 * s, top + 72 * s))
    frames = bench_glued.cut_out(picture, boxes, (96, 72))
    fitted = bench_glued.fitted_boxes(frames)
    l0, t0 = boxes[0][:2]
    for (l, t, r, b), got in zip(boxes, fitted):
        want = ((l - l0) / 1.5, (t - t0) / 1.5, (r - l0) / 1.5, (b - t0) / 1.5)  # in frame 0's pixels
        assert max(abs(g - e) for g, e in zip(got, want)) < 0.1, (got, want)


def test_bench_flicker_product_path_matches_the_float32_modules_on_the_torch_backend() -> None:
    pytest.importorskip("cv2", reason="bench_flicker's measure (DIS flow) needs pip install -e '.[bench]'")
    import torch

    import bench_flicker
    from vidstyle.stylize import Stylizer
    from vidstyle.temporal import TemporalSettings

    st = Stylizer(device="cpu", size=64, backend="torch")
    clip = bench_flicker.CLIPS[1]  # the moving camera: phase lock and blends all at work
    methods = {"off": bench_flicker.OFF, "default": TemporalSettings()}
    quality = bench_flicker.Quality(st, bench_flicker.DEFAULT_STYLE)
    with torch.no_grad():
        modules, _ = bench_flicker.run_clip(st, quality, bench_flicker.DEFAULT_STYLE, clip, 6, methods, 2, 2)
        product, _ = bench_flicker.run_clip(st, quality, bench_flicker.DEFAULT_STYLE, clip, 6, methods, 2, 2,
                                            product=True)
    for a, b in zip(modules, product):
        assert a.method == b.method and a.ratio == pytest.approx(b.ratio, rel=1e-3), (a, b)
    assert product[1].ratio < 0.7 * product[0].ratio  # and the hooks did steady it
