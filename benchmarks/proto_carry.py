"""Prototype, measured beside the product: steady video that *copies* the past along a fitted camera model.

    python benchmarks/proto_carry.py --results benchmarks/RESULTS-flicker.md

Not the product (``vidstyle run`` does not use it): a subclass of
:class:`vidstyle.temporal.Temporal` that issue 14's next step can build on,
and the measurement that says it is worth building. ``bench_glued`` showed
that on the moving camera, frame 0 carried along the camera's motion (each
frame the previous one resampled by Lanczos) reaches a warping error ratio of
1.14 with the style kept, where blending a redrawn frame into the warped past
levels off near 1.9 or washes the strokes out. Here the same carry runs
inside steady video's default, on all three clips of ``bench_flicker``:

1. :meth:`CameraCarry.motion`: per frame, a camera model (per axis
   ``previous = scale * current + shift``, ``bench_glued.fit_camera``) is
   fitted to the *local* Lucas-Kanade flow at the flow size (the snapped flow
   that steady video keeps has the camera's median translation where it
   explains the picture, and so loses a zoom). Where the previous source,
   warped by the model, matches the current one within ``tolerance`` (mean abs
   of the luma over 3x3 pixels), the model holds; the map and the model are
   then taken into the phase-locked frames' coordinates (frame t sampled at
   ``p + s_t``: ``q = scale * p + scale * s_t + shift - s_{t-1}``).
2. :meth:`CameraCarry.output`: steady video's own output first, then, where
   the model holds, the previous output resampled by the model with separable
   Lanczos-3 (:func:`lanczos_matrix`: a zoom and a shift per axis are
   separable, two small matrix products) replaces it.

What it does not do yet, and the product would need: a bounded memory (the
carry copies a shot's first strokes for as long as the model holds, so a farm
chunk's warm-up would not reproduce a single render's; restarting the carry
with the phase lock's period would bound it), and the cost (the model's flow
is computed a second time here).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import report
from bench_flicker import CLIPS, DEFAULT_STYLE, OFF, Quality, decoder_id, run_clip
from bench_glued import fit_camera

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidstyle.settings import ModelSettings  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.temporal import (  # noqa: E402
    Motion, Temporal, TemporalSettings, _local_diff, _shifted, _warp, consistent, flow_both_ways, flow_shape, luma)

CARRY = "default + camera carry"


def lanczos_matrix(n: int, scale: float, shift: float, a: int = 3) -> torch.Tensor:
    """``(n, n)``: row j samples a line of ``n`` pixels at ``scale * j + shift`` (centres) by Lanczos-``a``, edges repeated.

    ``M_y @ x @ M_x.T`` resamples a picture ``x`` ``(..., n_y, n_x)`` by a zoom and a shift per axis.
    """
    q = scale * torch.arange(n, dtype=torch.float64) + shift
    x0 = q.floor()
    m = torch.zeros(n, n, dtype=torch.float64)
    rows = torch.arange(n)
    for k in range(-a + 1, a + 1):
        d = q - (x0 + k)
        pd = math.pi * d
        w = torch.where(d.abs() < 1e-9, torch.ones_like(d), a * torch.sin(pd) * torch.sin(pd / a) / (pd * pd).clamp_min(1e-18))
        m.index_put_((rows, (x0 + k).clamp(0, n - 1).long()), w, accumulate=True)
    return (m / m.sum(1, keepdim=True)).float()


class CameraCarry(Temporal):
    """Steady video's stage, with the past copied where a camera model fitted to the flow explains the source."""

    tolerance = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        self._cam_grey: torch.Tensor | None = None
        self._cam_shift = torch.zeros(2)
        self._cams: list = []

    def reset(self) -> None:
        super().reset()
        self._cam_grey, self._cam_shift = None, torch.zeros(2)

    def motion(self, frames: torch.Tensor, new_shot=None, masks=None, regrid=None) -> Motion:
        m = super().motion(frames, new_shot, masks, regrid)
        if m.flow is None:
            return m
        size = tuple(frames.shape[-2:])
        h, w = flow_shape(size[0], size[1], self.settings.flow_size)
        grey = luma(F.interpolate(frames.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True))
        k = torch.tensor([size[1] / w, size[0] / h])
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        self._cams = []
        for i in range(frames.shape[0]):
            shift = m.shift[i] if m.shift is not None else torch.zeros(2)
            cam = None
            if self._cam_grey is not None and not m.fresh[i]:
                both = flow_both_ways(grey[i : i + 1], self._cam_grey)
                ok = consistent(both[:1], both[1:])[0, 0]
                if float(ok.float().mean()) > self.settings.min_consistent:
                    (sx, tx), (sy, ty) = fit_camera(both[:1], ok, size)
                    cx, cy = (xs + 0.5) * k[0] - 0.5, (ys + 0.5) * k[1] - 0.5
                    model_flow = torch.stack([(sx * cx + tx - cx) / k[0], (sy * cy + ty - cy) / k[1]])[None]
                    moved, _ = _warp(self._cam_grey, model_flow)
                    holds = (_local_diff(grey[i : i + 1], moved) < self.tolerance).float()
                    if bool((shift != 0).any()):
                        holds = _shifted(holds, shift / k).clamp(0, 1)
                    prev = self._cam_shift
                    cam = ((sx, sx * float(shift[0]) + tx - float(prev[0]), sy, sy * float(shift[1]) + ty - float(prev[1])), holds)
            self._cams.append(cam)
            self._cam_grey, self._cam_shift = grey[i : i + 1], shift.clone()
        return m

    def output(self, frames: torch.Tensor, motion: Motion) -> torch.Tensor:
        if self.settings.output == 0 or motion.flow is None:
            return super().output(frames, motion)
        h, w = frames.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        outs = []
        for i in range(frames.shape[0]):
            past = self._out
            one = Motion((motion.fresh[i],), motion.flow[i : i + 1], motion.weight[i : i + 1], motion.consistent[i : i + 1],
                         None, None if motion.still is None else motion.still[i : i + 1])
            o = super().output(frames[i : i + 1], one)  # in the phase-locked coordinates (no shift given)
            if past is not None and self._cams[i] is not None:
                (sx, tx, sy, ty), holds = self._cams[i]
                carried = (lanczos_matrix(h, sy, ty) @ past.float() @ lanczos_matrix(w, sx, tx).T).clamp(0, 1)
                px, py = sx * xs + tx, sy * ys + ty
                inside = ((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)).float()
                where = F.interpolate(holds, size=(h, w), mode="bilinear", align_corners=False) * inside
                o = torch.lerp(o, carried.to(o.dtype), where.to(o.dtype))
                self._out = o
            outs.append(o)
        return self._unshift(torch.cat(outs), motion)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=24, help="frames per clip")
    ap.add_argument("--every", type=int, default=4, help="structure and style on every N-th frame")
    ap.add_argument("--margin", type=int, default=32, help="pixels of every side left out of the inner scores")
    ap.add_argument("--clips", nargs="*", default=None, help="clip names (default: all of bench_flicker's)")
    report.add_options(ap)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    st = Stylizer(device="cpu", size=ModelSettings.size)
    methods = {"off": OFF, "steady video, default": TemporalSettings(), CARRY: TemporalSettings()}
    lines = [
        "## Prototype: copying the past along a fitted camera model (proto_carry)",
        "",
        f"The first {args.frames} frames of each clip, the default size; style {DEFAULT_STYLE.name}; decoder "
        f"{decoder_id()}. `{CARRY}`: steady video's default, then the previous output resampled by a camera model "
        f"fitted to the flow where that model explains the source (tolerance {CameraCarry.tolerance}); not the "
        "product. Ratio: bench_flicker's warping error over the source's floor. Structure and style fraction: "
        f"bench_flicker's, every {args.every}th frame, the change against off; whole frame, and without "
        f"{args.margin} px of every side.",
        "",
        "| clip | method | warping error ratio | structure (whole) | style fraction (whole) | structure (inner) | style fraction (inner) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clip in CLIPS:
        if args.clips and clip.name not in args.clips:
            continue
        rows, _ = run_clip(st, Quality(st, DEFAULT_STYLE), DEFAULT_STYLE, clip, args.frames, methods, 2, args.every,
                           stages={CARRY: CameraCarry}, inner=Quality(st, DEFAULT_STYLE, args.margin))
        base = rows[0]
        for r in rows:
            cells = [f"{v:.4f} ({v / b - 1:+.1%})" for v, b in
                     zip((r.structure, r.style, *r.inner), (base.structure, base.style, *base.inner))]
            lines.append(f"| {clip.name} | {r.method} | {r.ratio:.2f} | {' | '.join(cells)} |")
        print(lines[-1], file=sys.stderr)
    report.publish(args, "proto_carry/cpu", "\n".join(lines))


if __name__ == "__main__":
    main()
