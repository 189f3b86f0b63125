"""How steady a perfectly steady stylization of the moving-camera clip would measure (issue 14).

    apt-get download mate-backgrounds=1.26.0-1 && dpkg-deb -x mate-backgrounds_1.26.0-1_all.deb pkg
    python benchmarks/bench_glued.py --photo pkg/usr/share/backgrounds/mate/nature/Dune.jpg --results benchmarks/RESULTS-flicker.md

``pan_dune.mp4`` is a camera move over a still photograph
(``examples/media/README.md``): each frame is the photograph inside a moving
box (``make_steady_clips.pan_box``), resampled with Pillow's Lanczos filter.
So a stylization whose strokes stay glued to the scene can be built exactly:
stylize the photograph once, and cut every frame out of the *stylized*
photograph with the clip's own boxes, the same way. Its strokes never change
on the scene, so its warping error under ``bench_flicker``'s measure is what
that measure gives a steady stylization of this clip (not a strict floor: a
sequence resampled frame after frame, as the carried ones below, is a little
smoother and can measure lower), and its style and structure show what such
steadiness costs by ``bench_flicker``'s scores.

Rows:

- *off* and *steady video, default*: ``bench_flicker.run_clip``'s (the same
  numbers as its tables for the same frames).
- *cut out, each frame's own statistics*: the photograph stylized once per
  frame, with AdaIN taking that frame's content statistics, and the frame cut
  out of it. As unsteady as *off* in its colours, but every frame drawn with
  the whole photograph around it and resampled like the glued one: the
  control that tells the glued row's own cost from what the cutting out costs.
- *glued*: the photograph stylized once, with the mean of the frames' content
  statistics; every frame cut out of it.
- *carried*: frame 0 of *off* carried along the clip by the camera's exact
  motion (known from the boxes): each frame is the previous one resampled
  (Pillow's Lanczos, or ``vidstyle.temporal.warp``'s bicubic), with *off*'s
  frame only where the picture enters at the edge. What a stabiliser that
  copies the warped past, with a perfect motion model, would show, and how much
  its resampling blurs the strokes frame after frame. *Carried, fitted* does
  the same with a camera motion estimated from the clip alone
  (:func:`fitted_boxes`: a zoom and a shift per axis fitted to steady video's
  own flow), as a render could.

The photograph is stylized at the scale that maps the frames' mean box onto
the clip's width (the frames' own scale varies by the zoom, a few per cent).
The scores are taken twice: over the whole frame (the issue's), and without
a margin of ``--margin`` px on every side, where a frame stylized on its own
differs from one cut out of a larger picture by its padded edges alone.
``--clean`` adds the same comparison on the frames as cut from the photograph
before the clip was encoded (no codec noise in the source, so a lower floor).
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import report
from bench_flicker import CLIPS, DEFAULT_STYLE, OFF, Measure, Quality, decoder_id, read_frames, run_clip

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "media"))

from make_steady_clips import PAN_FRAMES, PAN_SIZE, pan_box  # noqa: E402

from vidstyle.imageio import resize  # noqa: E402
from vidstyle.settings import ModelSettings  # noqa: E402
from vidstyle.stats import channel_stats  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.temporal import (  # noqa: E402
    TemporalSettings, adain_with_stats, consistent, fit_camera, flow_both_ways, flow_shape, luma, warp)

# examples/media/README.md: mate-backgrounds 1.26.0-1, usr/share/backgrounds/mate/nature/Dune.jpg
PHOTO_SHA256 = "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"
DEFAULT_NAME = "steady video, default"


def cut_out(picture: torch.Tensor, boxes: Sequence[tuple[float, float, float, float]], size: tuple[int, int]) -> torch.Tensor:
    """Each box of ``picture`` resampled to ``size`` ``(w, h)`` with Pillow's Lanczos filter, in floating point.

    The boxes are (left, top, right, bottom) in the picture's pixels, as
    :meth:`PIL.Image.Image.resize` takes them; a box of exactly ``size`` at
    whole-pixel offsets is a plain crop.

    Shape:
        picture ``(3, H, W)`` in [0, 1] -> ``(len(boxes), 3, h, w)`` in [0, 1].
    """
    planes = [Image.fromarray(np.ascontiguousarray(picture[c].float().numpy()), mode="F") for c in range(3)]
    frames = [np.stack([np.asarray(p.resize(size, Image.Resampling.LANCZOS, box=box)) for p in planes]) for box in boxes]
    return torch.from_numpy(np.stack(frames)).clamp(0, 1)


def scaled(boxes: Sequence[tuple[float, float, float, float]], sx: float, sy: float) -> list[tuple[float, float, float, float]]:
    return [(a * sx, b * sy, c * sx, d * sy) for a, b, c, d in boxes]


def carried(first: torch.Tensor, fresh: torch.Tensor, boxes: Sequence[tuple[float, float, float, float]],
            mode: str) -> torch.Tensor:
    """``first`` carried from box to box by the exact camera motion; ``fresh`` where the picture enters.

    Frame t is frame t-1 resampled where frame t's pixels sit in it (the
    boxes are in the photograph's pixels, frames cut out of them as
    :func:`cut_out` does), by Pillow's Lanczos (``mode`` "lanczos") or by
    :func:`vidstyle.temporal.warp` ("bicubic"); pixels that come from outside
    frame t-1 take ``fresh``'s.

    Shape:
        first ``(1, 3, h, w)``, fresh ``(N, 3, h, w)`` -> ``(N, 3, h, w)``.
    """
    h, w = first.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    pad = 8
    out = [first]
    for (l0, t0, r0, b0), (l1, t1, r1, b1) in zip(boxes, boxes[1:]):
        sx0, sy0 = (r0 - l0) / w, (b0 - t0) / h
        # Frame t's box in frame t-1's pixels (edges), and its pixel centres there.
        box = ((l1 - l0) / sx0, (t1 - t0) / sy0, (r1 - l0) / sx0, (b1 - t0) / sy0)
        px = box[0] + (xs + 0.5) * (box[2] - box[0]) / w - 0.5
        py = box[1] + (ys + 0.5) * (box[3] - box[1]) / h - 0.5
        inside = ((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1))[None, None]
        prev = out[-1]
        if mode == "lanczos":
            padded = torch.nn.functional.pad(prev, (pad,) * 4, mode="replicate")[0]
            moved = cut_out(padded, [tuple(v + pad for v in box)], (w, h))
        else:
            moved, _ = warp(prev, torch.stack([px - xs, py - ys])[None], "bicubic")
        out.append(torch.where(inside, moved.clamp(0, 1), fresh[len(out) : len(out) + 1]))
    return torch.cat(out)


def fitted_boxes(frames: torch.Tensor, flow_size: int = TemporalSettings.flow_size) -> list[tuple[float, float, float, float]]:
    """Each frame's box in frame 0's pixels (edges), from a camera model fitted to the flow between frames.

    Per pair, steady video's backward flow (:func:`vidstyle.temporal.flow_both_ways`
    at ``flow_size``) is fitted by :func:`vidstyle.temporal.fit_camera` where
    :func:`vidstyle.temporal.consistent` trusts it; the boxes chain the pairs.

    Shape:
        ``(N, 3, H, W)`` -> N boxes, the first ``(0, 0, W, H)``.
    """
    h, w = frames.shape[-2:]
    g = luma(resize(frames, flow_shape(h, w, flow_size)))
    boxes = [(0.0, 0.0, float(w), float(h))]
    for t in range(1, frames.shape[0]):
        both = flow_both_ways(g[t : t + 1], g[t - 1 : t])
        sx, tx, sy, ty = fit_camera(both[:1], consistent(both[:1], both[1:])[0, 0], (h, w)).tolist()
        # Frame t's edges in frame t-1's pixels (an edge is a centre + 0.5), then in frame 0's through t-1's box.
        edges = (0.5 - 0.5 * sx + tx, 0.5 - 0.5 * sy + ty, sx * (w - 0.5) + tx + 0.5, sy * (h - 0.5) + ty + 0.5)
        l0, t0, r0, b0 = boxes[-1]
        kx, ky = (r0 - l0) / w, (b0 - t0) / h
        boxes.append((l0 + edges[0] * kx, t0 + edges[1] * ky, l0 + edges[2] * kx, t0 + edges[3] * ky))
    return boxes


class Scores:
    """``bench_flicker.Quality`` over the whole frame and without a margin: mean structure and style fraction."""

    def __init__(self, st: Stylizer, style: Path, margin: int, every: int) -> None:
        self.whole, self.inner, self.every = Quality(st, style), Quality(st, style, margin=margin), every

    def __call__(self, key: str, out: torch.Tensor, src: torch.Tensor) -> tuple[float, float, float, float]:
        rows = [(*self.whole.frame((key, i), out[i : i + 1], src[i : i + 1]),
                 *self.inner.frame((key, i), out[i : i + 1], src[i : i + 1])) for i in range(0, out.shape[0], self.every)]
        return tuple(statistics.mean(r[k] for r in rows) for k in range(4))


@torch.no_grad()
def glued_rows(st: Stylizer, scores: Scores, photo: Image.Image, src: torch.Tensor,
               boxes: list[tuple[float, float, float, float]], key: str) -> dict:
    """Ratio and scores of off, the control, glued and the carried sequences, for frames ``src`` cut from ``photo`` with ``boxes``."""
    s_mean, s_std = scores.whole.targets[-1]
    feats = st.encoder.encode(src).float()
    c_mean, c_std = channel_stats(feats)
    off = st.decoder(adain_with_stats(feats, c_mean, c_std, s_mean, s_std)).float().clamp(0, 1)
    # The photograph at the frames' mean scale, its sides a multiple of the network's grid.
    scale = PAN_SIZE[0] / statistics.mean(b[2] - b[0] for b in boxes)
    w, h = (round(v * scale / 8) * 8 for v in photo.size)
    big = torch.from_numpy(np.asarray(photo.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float32) / 255)
    big_feats = st.encoder.encode(big.permute(2, 0, 1)[None]).float()
    at = scaled(boxes, w / photo.size[0], h / photo.size[1])

    def stylized(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return st.decoder(adain_with_stats(big_feats, mean, std, s_mean, s_std)).float().clamp(0, 1)[0]

    control = torch.cat([cut_out(stylized(c_mean[i : i + 1], c_std[i : i + 1]), at[i : i + 1], PAN_SIZE)
                         for i in range(src.shape[0])])
    glued = cut_out(stylized(c_mean.mean(0, keepdim=True), c_std.mean(0, keepdim=True)), at, PAN_SIZE)
    measure = Measure.of(src, set())
    floor = measure.floor
    rows = {}
    seqs = {"off": off, "cut out, each frame's own statistics": control, "glued": glued}
    for mode in ("lanczos", "bicubic"):
        seqs[f"carried ({mode})"] = carried(off[:1], off, boxes, mode)
    seqs["carried, fitted (lanczos)"] = carried(off[:1], off, fitted_boxes(src), "lanczos")
    for name, seq in seqs.items():
        rows[name] = (measure.error(seq) / floor, *scores(key, seq, src))
    return {"floor": floor, "picture": f"{w}x{h}", "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", type=Path, required=True, help="mate-backgrounds 1.26.0-1's Dune.jpg (see above)")
    ap.add_argument("--frames", type=int, default=24, help="frames of the clip, from its first")
    ap.add_argument("--every", type=int, default=4, help="structure and style on every N-th frame")
    ap.add_argument("--margin", type=int, default=32, help="pixels of every side left out of the inner scores")
    ap.add_argument("--clean", action="store_true", help="also on the frames before encoding")
    report.add_options(ap)
    args = ap.parse_args()
    if not args.photo.is_file():
        ap.error(f"no photograph at {args.photo}")
    if hashlib.sha256(args.photo.read_bytes()).hexdigest() != PHOTO_SHA256:
        ap.error(f"{args.photo} is not mate-backgrounds 1.26.0-1's Dune.jpg (sha256 differs)")
    if not 1 < args.frames <= PAN_FRAMES:
        ap.error(f"--frames must be 2 to {PAN_FRAMES}")
    torch.set_grad_enabled(False)
    st = Stylizer(device="cpu", size=ModelSettings.size)
    clip = next(c for c in CLIPS if c.path.name == "pan_dune.mp4")
    photo = Image.open(args.photo).convert("RGB")
    boxes = [pan_box(i, PAN_FRAMES, photo.size) for i in range(args.frames)]
    scores = Scores(st, DEFAULT_STYLE, args.margin, args.every)

    sources = {"the clip (as encoded)": read_frames(clip.path, clip.first, args.frames)}
    if args.clean:
        # make_pan's frames before encoding: the same resize of the 8-bit photograph.
        sources["the frames before encoding"] = torch.stack([
            torch.from_numpy(np.asarray(photo.resize(PAN_SIZE, Image.Resampling.LANCZOS, box=b), dtype=np.float32) / 255).permute(2, 0, 1)
            for b in boxes])
    results = {name: glued_rows(st, scores, photo, src, boxes, name) for name, src in sources.items()}
    # Steady video's default on the clip, from bench_flicker's own run. Its off is the same computation as
    # glued_rows' (the same scores to the printed digits), against which the change is given.
    run, _ = run_clip(st, scores.whole, DEFAULT_STYLE, clip, args.frames,
                      {"off": OFF, DEFAULT_NAME: TemporalSettings()}, 2, args.every, inner=scores.inner)
    row = next(r for r in run if r.method == DEFAULT_NAME)
    results["the clip (as encoded)"]["rows"][DEFAULT_NAME] = (row.ratio, row.structure, row.style, *row.inner)

    lines = [
        "## A perfectly steady stylization of the moving camera (bench_glued)",
        "",
        f"pan_dune.mp4, frames 0-{args.frames - 1}; style {DEFAULT_STYLE.name}; decoder {decoder_id()}. Glued: the "
        "photograph stylized once, every frame cut out of it with the clip's own boxes (strokes that stay on the "
        "scene). Cut out, each frame's own statistics: the same cutting out, but the "
        "photograph stylized again for every frame with that frame's content statistics (the control). Carried: "
        "frame 0 of off carried along the camera's exact motion, each frame the previous one resampled (Lanczos or "
        "bicubic), off only where the picture enters; fitted: the motion fitted to steady video's own flow. Ratio: "
        "bench_flicker's warping error over the source's floor. Structure and style fraction: bench_flicker's, "
        f"on every {args.every}th frame, the change against off; whole frame, and without {args.margin} px of every side.",
        "",
        "| source | floor (x 255) | photograph stylized at | sequence | warping error ratio | structure (whole) | "
        "style fraction (whole) | structure (inner) | style fraction (inner) |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for source, res in results.items():
        base = res["rows"]["off"]
        for name, (ratio, s_w, f_w, s_i, f_i) in res["rows"].items():
            cells = [f"{v:.4f} ({v / b - 1:+.1%})" for v, b in zip((s_w, f_w, s_i, f_i), base[1:])]
            lines.append(f"| {source} | {res['floor']:.3f} | {res['picture']} | {name} | {ratio:.2f} | {' | '.join(cells)} |")
    report.publish(args, "bench_glued/cpu", "\n".join(lines))


if __name__ == "__main__":
    main()
