"""`vidstyle image` and `vidstyle style` end to end on small real photos, and every error path."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image as PILImage

from vidstyle._cli import main
from vidstyle.imageio import read_image
from vidstyle.stats import StyleStats

DATA = Path(__file__).parent / "data"
PHOTO = DATA / "chelsea.jpg"  # 160x106
STYLE = DATA / "coffee.jpg"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *, contains: str = "") -> None:
    assert result.exit_code not in (0, None), result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert contains.lower() in lines[0].lower(), lines[0]


def test_image_end_to_end_keeps_size(tmp_path):
    out = tmp_path / "out.png"
    r = run("image", PHOTO, "--style", STYLE, "--size", "128", "-o", out)
    assert r.exit_code == 0, r.stderr
    img = read_image(out)
    assert img.size == read_image(PHOTO).size
    # The result is a picture, not a copy of the content and not a flat field.
    content = read_image(PHOTO).rgb
    assert 0.02 < (img.rgb - content).abs().mean() < 0.5
    assert img.rgb.std() > 0.03


def test_saved_style_gives_the_same_result_as_the_image(tmp_path):
    style_file = tmp_path / "coffee.style"
    assert run("style", STYLE, "-o", style_file).exit_code == 0
    assert StyleStats.load(style_file).mean.shape == (512,)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run("image", PHOTO, "--style", STYLE, "--size", "96", "-o", a).exit_code == 0
    assert run("image", PHOTO, "--style", style_file, "--size", "96", "-o", b).exit_code == 0
    assert np.array_equal(np.asarray(PILImage.open(a)), np.asarray(PILImage.open(b)))


def test_alpha_zero_is_closer_to_the_content_than_alpha_one(tmp_path):
    content = read_image(PHOTO).rgb
    diffs = []
    for alpha in ("0", "1"):
        out = tmp_path / f"a{alpha}.png"
        assert run("image", PHOTO, "--style", STYLE, "--alpha", alpha, "--size", "96", "-o", out).exit_code == 0
        diffs.append(float((read_image(out).rgb - content).abs().mean()))
    assert diffs[0] < diffs[1]


def test_two_styles_with_weights_and_preserve_color(tmp_path):
    out = tmp_path / "mix.jpg"
    r = run("image", PHOTO, "--style", STYLE, "--style", PHOTO, "--style-weights", "0.7,0.3",
            "--preserve-color", "--size", "96", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert read_image(out).size == read_image(PHOTO).size


def test_mask_gives_each_region_its_style(tmp_path):
    w, h = PILImage.open(PHOTO).size
    mask = np.zeros((h, w), np.uint8)
    mask[:, : w // 2] = 255
    PILImage.fromarray(mask).save(tmp_path / "left.png")
    out = tmp_path / "masked.png"
    r = run("image", PHOTO, "--style", STYLE, "--mask", tmp_path / "left.png", "--size", "128", "-o", out)
    assert r.exit_code == 0, r.stderr
    full = tmp_path / "full.png"
    run("image", PHOTO, "--style", STYLE, "--size", "128", "-o", full)
    none = tmp_path / "none.png"
    run("image", PHOTO, "--style", STYLE, "--alpha", "0", "--size", "128", "-o", none)
    got, f, n = (read_image(p).rgb for p in (out, full, none))
    q = w // 4  # well inside each half, away from the feathered seam
    left_err_full = (got[..., :q] - f[..., :q]).abs().mean()
    left_err_none = (got[..., :q] - n[..., :q]).abs().mean()
    right_err_full = (got[..., -q:] - f[..., -q:]).abs().mean()
    right_err_none = (got[..., -q:] - n[..., -q:]).abs().mean()
    assert left_err_full < left_err_none  # styled on the left
    assert right_err_none < right_err_full  # content on the right


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16"])
def test_image_modes(tmp_path, mode):
    src = PILImage.open(PHOTO)
    if mode == "I;16":
        arr = (np.asarray(src.convert("L"), np.uint16) * 257)
        img = PILImage.fromarray(arr)
    else:
        img = src.convert(mode)
    path = tmp_path / f"in.png"
    img.save(path)
    out = tmp_path / "out.png"
    r = run("image", path, "--style", STYLE, "--size", "64", "-o", out)
    assert r.exit_code == 0, r.stderr
    res = PILImage.open(out)
    assert res.size == src.size
    assert ("A" in res.mode) == ("A" in mode)


def test_16bit_rgb_png_keeps_16_bits(tmp_path):
    import av

    arr = (np.asarray(PILImage.open(PHOTO).convert("RGB"), np.uint16) * 257)
    path = tmp_path / "deep.png"
    with av.open(str(path), "w", format="image2") as c:
        s = c.add_stream("png", rate=1)
        s.width, s.height, s.pix_fmt = arr.shape[1], arr.shape[0], "rgb48be"
        for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb48le")):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    img = read_image(path)
    assert img.bits == 16
    out = tmp_path / "out.png"
    assert run("image", path, "--style", STYLE, "--size", "64", "-o", out).exit_code == 0
    assert read_image(out).bits == 16


def test_exif_orientation_is_applied(tmp_path):
    src = PILImage.open(PHOTO)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    src.save(path, exif=exif)
    assert read_image(path).size == (src.size[0], src.size[1])  # (H, W) of the upright image
    out = tmp_path / "out.png"
    assert run("image", path, "--style", STYLE, "--size", "64", "-o", out).exit_code == 0
    assert PILImage.open(out).size == (src.size[1], src.size[0])


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(PHOTO.read_bytes()[:200])
    (tmp_path / "notes.txt").write_text("not an image\n")
    PILImage.new("L", (50, 50)).save(tmp_path / "square_mask.png")
    return tmp_path


@pytest.mark.parametrize("args, contains", [
    (["{d}/missing.jpg", "--style", STYLE], "not found"),
    (["{d}/empty.jpg", "--style", STYLE], "empty"),
    (["{d}/corrupt.jpg", "--style", STYLE], "not a readable image"),
    (["{d}/notes.txt", "--style", STYLE], "not a readable image"),
    ([PHOTO, "--style", "{d}/missing.jpg"], "style not found"),
    ([PHOTO, "--style", "{d}/notes.txt"], "not a readable image"),
    ([PHOTO, "--style", STYLE, "--mask", "{d}/square_mask.png"], "mask"),
    ([PHOTO, "--style", STYLE, "--mask", "{d}/square_mask.png", "--mask", "{d}/square_mask.png", "--mask", "{d}/square_mask.png"], "masks"),
    ([PHOTO, "--style", STYLE, "--style", STYLE, "--style-weights", "0.7,0.2"], "sum to"),
    ([PHOTO, "--style", STYLE, "--style-weights", "0.5,0.5"], "2 style weights"),
    ([PHOTO, "--style", STYLE, "--alpha", "1.5"], "alpha"),
    ([PHOTO, "--style", STYLE, "--alpha", "-0.1"], "alpha"),
])
def test_bad_input_gives_one_line_and_writes_nothing(bad_files, args, contains):
    out = bad_files / "out.png"
    argv = [str(a).format(d=bad_files) for a in args]
    r = run("image", *argv, "-o", out)
    assert_one_line_error(r, contains=contains)
    assert not out.exists()
    assert not list(bad_files.glob(".out.partial-*"))


def test_unwritable_output_and_existing_output(tmp_path):
    r = run("image", PHOTO, "--style", STYLE, "-o", tmp_path / "no" / "such" / "dir" / "o.png")
    assert_one_line_error(r, contains="does not exist")
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep")
    r = run("image", PHOTO, "--style", STYLE, "-o", existing)
    assert_one_line_error(r, contains="--overwrite")
    assert existing.read_bytes() == b"keep"
    r = run("image", PHOTO, "--style", STYLE, "-o", PHOTO)
    assert_one_line_error(r, contains="is the input")


def test_console_script_error_has_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "vidstyle", "image", str(tmp_path / "nope.jpg"), "--style", str(STYLE),
                        "-o", str(tmp_path / "o.png")], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr


def test_image_and_style_name_their_output_beside_the_input_as_run_does(tmp_path):
    photo, style = tmp_path / "cat.jpg", tmp_path / "coffee.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    style.write_bytes(STYLE.read_bytes())
    r = run("image", photo, "--style", style, "--size", "64")
    assert r.exit_code == 0, r.stderr
    assert read_image(tmp_path / "cat_styled.jpg").size == read_image(photo).size
    assert run("style", style).exit_code == 0
    assert StyleStats.load(tmp_path / "coffee.style").mean.shape == (512,)
    # Like `run`, neither replaces an output that is there without -y.
    assert_one_line_error(run("style", style), contains="-y/--overwrite")
    assert run("style", style, "-y").exit_code == 0


def test_style_files_get_the_permissions_of_every_other_output(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert run("style", STYLE, "-o", tmp_path / "a.style").exit_code == 0
    finally:
        os.umask(old)
    # What the umask leaves of rw-rw-rw-, as for images and videos (it was 0600).
    assert stat.S_IMODE((tmp_path / "a.style").stat().st_mode) == 0o644
