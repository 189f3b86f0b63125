"""Flicker of colour preservation on video: off, per-frame histogram matching, luminance transfer.

    python benchmarks/bench_flicker.py --size 512 --out benchmarks/RESULTS-flicker.md

Renders a fixed-camera clip (examples/media/vtest_5s.mp4, a street scene) three
times through the real model path (:meth:`vidstyle.stylize.Stylizer.stylize`):
colour preservation off, ``histogram`` (each result's a*/b* histograms matched
to its own frame: the old method) and ``luminance`` (the result's L*, the
frame's a*/b*: the video default). No encoder sits in between, so codec noise
does not blur the comparison.

Flicker is the mean absolute difference between consecutive output frames,
over all pixels, channels and frame pairs, divided by the same for the input
frames (so the people walking through the scene, which move in the input too,
count once). It is given on the float frames and on the 8-bit frames the
encoder would get (in levels, 0-255). Memory stays flat: one previous frame per
method is kept.
"""
from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vidstyle.model import DECODER_FILE, weights_dir  # noqa: E402
from vidstyle.settings import Span  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.video import FrameReader, parse_frame_range  # noqa: E402

DEFAULT_CLIP = ROOT / "examples" / "media" / "vtest_5s.mp4"
DEFAULT_STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
METHODS = (("off", None), ("histogram (per frame, old)", "histogram"), ("luminance (new default)", "luminance"))


class Flicker:
    """Running mean |frame t - frame t-1|, on floats and on 8-bit levels."""

    def __init__(self) -> None:
        self.prev: torch.Tensor | None = None
        self.total = self.total8 = 0.0
        self.pairs = 0

    def add(self, frames: torch.Tensor) -> None:
        for f in frames:
            if self.prev is not None:
                self.total += float((f - self.prev).abs().mean())
                q, p = (f * 255).round(), (self.prev * 255).round()
                self.total8 += float((q - p).abs().mean())
                self.pairs += 1
            self.prev = f.clamp(0, 1)

    @property
    def mean(self) -> float:
        return self.total / max(self.pairs, 1)

    @property
    def mean8(self) -> float:
        return self.total8 / max(self.pairs, 1)


def decoder_id() -> str:
    path = weights_dir() / DECODER_FILE
    return f"{path} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]})"


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", default=None, help="A:B (default: the whole clip)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-flicker.md")
    args = ap.parse_args()

    st = Stylizer(device=args.device, size=args.size)
    looks = {name: st.look([args.style], preserve_color=m is not None, color_method=m or "histogram")
             for name, m in METHODS}
    meters = {name: Flicker() for name in ("input", *looks)}
    frames = parse_frame_range(args.frames) if args.frames else None
    start = time.perf_counter()
    count = 0
    with FrameReader(args.input, Span(frames=frames)) as reader:
        for batch in reader.iter_batches(args.batch):
            meters["input"].add(batch.rgb)
            for name, look in looks.items():
                meters[name].add(st.stylize(batch.rgb, look))
            count += len(batch.indices)
    seconds = time.perf_counter() - start

    inp = meters["input"]
    cmd = "python benchmarks/bench_flicker.py " + " ".join(sys.argv[1:])
    rows = [
        "| colour preservation | flicker (x input) | mean abs diff, float x 255 | mean abs diff, 8-bit levels |",
        "|---|---:|---:|---:|",
        f"| (input frames) | 1.000 | {inp.mean * 255:.3f} | {inp.mean8:.3f} |",
    ]
    for name in looks:
        m = meters[name]
        rows.append(f"| {name} | {m.mean / max(inp.mean, 1e-12):.3f} | {m.mean * 255:.3f} | {m.mean8:.3f} |")
    text = [
        "# Flicker of colour preservation on video",
        "",
        f"Command: `{cmd}`",
        "",
        f"- clip: {args.input.name}, frames {args.frames or 'all'} ({count} frames, {max(count - 1, 0)} pairs)",
        f"- style: {args.style.name}; working size {st.size}; device {st.device} ({platform.machine()})",
        f"- decoder: {decoder_id()}",
        f"- {seconds:.1f} s for three renders",
        "",
        "Flicker = mean |frame t - frame t-1| over all pixels, channels and pairs, divided by the input's.",
        "",
        *rows,
        "",
    ]
    args.out.write_text("\n".join(text), encoding="utf-8")
    print("\n".join(text))


if __name__ == "__main__":
    main()
