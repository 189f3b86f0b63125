"""How much of the style fraction depends on where the picture sits on the network's 8-pixel grid.

    python benchmarks/bench_phase.py --results benchmarks/RESULTS-flicker.md
    python benchmarks/bench_phase.py --clips "moving camera" --frames 8 --every 4     # quicker

Steady video's grid phase lock (:class:`vidstyle.temporal.TemporalSettings`,
``phase``) shifts each frame so that a panning camera's scene keeps one phase
of the grid; the frame itself then visits every phase as the camera moves,
where a render without steadying keeps every frame at its own phase 0. The
network is not equivariant to those shifts, so the style fraction of one
frame differs from phase to phase. This measures that alone, with no blending
and no resampling: each frame is moved by whole pixels (exact, edges
reflected), stylized, and moved back, for a fixed set of shifts, and the
style fraction (``bench_flicker``'s, ``training/evaluate.py``'s definition) is
compared with the same frame stylized where it is. Over the 10 shifts the
mean change is what a render that visits all phases evenly pays for the lock
on that clip, before any blending; it is reported per clip with its spread.

The *phase error* is the same comparison in pixels: the mean absolute
difference (RGB in [0, 1]) between the frame stylized at a shift and moved
back and the frame stylized where it is, over the picture less a margin of
16 pixels (its edges are padded differently at every shift;
:func:`vidstyle.metrics.phase_error`, which ``training/evaluate.py`` reports too). It
is how far the network is from drawing the same strokes wherever the picture
sits on its grid: the flicker a panning camera shows before any steadying,
and what a decoder trained with a shift loss (``training/train.py
--shift-weight``) lowers. Set ``VIDSTYLE_WEIGHTS`` to measure other weights.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

import report
from bench_flicker import CLIPS, DEFAULT_STYLE, Quality, decoder_id, read_frames

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidstyle.imageio import resize, working_size  # noqa: E402
from vidstyle.metrics import PHASE_MARGIN, PHASE_SHIFTS, at_shift, shifted_difference  # noqa: E402
from vidstyle.settings import ModelSettings  # noqa: E402
from vidstyle.stats import adain  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402


@torch.no_grad()
def clip_changes(st: Stylizer, quality: Quality, clip, frames: int, every: int) -> tuple[list[float], list[float]]:
    """Per evaluated frame, the mean relative change of its style fraction over the shifts, and its phase error."""
    src = read_frames(clip.path, clip.first, frames)
    h, w = working_size(src.shape[-2], src.shape[-1], st.size)
    small = resize(src, (h, w))
    s_mean, s_std = quality.targets[-1]

    def stylized(x: torch.Tensor) -> torch.Tensor:
        return st.decoder(adain(st.encoder.encode(x).float(), s_mean, s_std)).float().clamp(0, 1)

    changes, errors = [], []
    for i in range(0, src.shape[0], every):
        x = small[i : i + 1]
        at_home = stylized(x)
        own = quality.frame((clip.name, i), at_home, x)[1]
        outs = [at_shift(stylized, x, s) for s in PHASE_SHIFTS]
        changes.append(statistics.mean(quality.frame((clip.name, i), out, x)[1] / own - 1 for out in outs))
        errors.append(shifted_difference(at_home, outs))
    return changes, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=ModelSettings.size, help="the working size (default: vidstyle run's)")
    ap.add_argument("--frames", type=int, default=24, help="frames per clip")
    ap.add_argument("--every", type=int, default=2, help="evaluate every N-th frame")
    ap.add_argument("--clips", nargs="*", default=None, help="clip names (default: all of bench_flicker's)")
    ap.add_argument("--tag", default="", help="appended to the section's name (another decoder's run keeps its own)")
    report.add_options(ap)
    args = ap.parse_args()
    st = Stylizer(device="cpu", size=args.size)
    quality = Quality(st, DEFAULT_STYLE)
    lines = [
        f"## Style fraction at other grid phases (bench_phase, size {args.size})",
        "",
        f"Each evaluated frame (one in {args.every} of the first {args.frames}) stylized at {len(PHASE_SHIFTS)} whole-pixel "
        "shifts and moved back, no blending: the mean change of its style fraction from the frame stylized where it "
        "is (positive: further from the style). A moving camera's steadied render visits all phases; a fixed camera's "
        f"stays at phase 0 and does not pay this. Phase error: the mean absolute difference of the pixels (RGB in [0, 1], "
        f"{PHASE_MARGIN} px of every edge left out) between the frame stylized at a shift and moved back and the frame "
        f"stylized where it is. Decoder: {decoder_id()}.",
        "",
        "| clip | frames | mean change | lowest frame | highest frame | phase error |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clip in CLIPS:
        if args.clips and clip.name not in args.clips:
            continue
        c, e = clip_changes(st, quality, clip, args.frames, args.every)
        lines.append(f"| {clip.name} | {len(c)} | {statistics.mean(c):+.1%} | {min(c):+.1%} | {max(c):+.1%} "
                     f"| {statistics.mean(e):.4f} |")
    report.publish(args, f"bench_phase/cpu-{args.size}" + (f"-{args.tag}" if args.tag else ""), "\n".join(lines))


if __name__ == "__main__":
    main()
