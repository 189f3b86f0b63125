"""Frame by frame: the style fraction and structure score of each method on one clip (where a default loses style).

    python benchmarks/flicker_frames.py --clip "moving camera" --methods off "default, phase period 48"

bench_flicker averages its scores over the clip; this prints them for every
frame (``run_clip`` with scores on every frame), so that a loss confined to a
few frames (a restart of the grid phase lock, a cut) shows where it is. The
methods are bench_flicker's names (its METHODS and EXTRA_METHODS); "default"
is :class:`vidstyle.temporal.TemporalSettings` as shipped. Prints only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_flicker as B  # noqa: E402

from vidstyle.settings import ModelSettings  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.temporal import TemporalSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="moving camera", help="a clip name of bench_flicker")
    ap.add_argument("--size", type=int, default=ModelSettings.size, help="the working size, as `vidstyle run --size`")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--methods", nargs="*", default=["off"], help="bench_flicker method names; 'default' is added")
    args = ap.parse_args()

    everything = {**B.METHODS, **B.EXTRA_METHODS, "default": TemporalSettings()}
    names = list(dict.fromkeys(["off", "default", *args.methods]))
    unknown = [n for n in names if n not in everything]
    if unknown:
        sys.exit(f"unknown methods: {unknown}")
    clip = next((c for c in B.CLIPS if c.name == args.clip), None)
    if clip is None:
        sys.exit(f"unknown clip {args.clip!r}: one of {[c.name for c in B.CLIPS]}")
    st = Stylizer(device="cpu", size=args.size)
    quality = B.Quality(st, B.DEFAULT_STYLE)
    seen: list[tuple[str, int, float, float]] = []
    score = quality.frame

    def frame(key, out, src):
        structure, style = score(key, out, src)
        seen.append((key[0], key[1], structure, style))
        return structure, style

    quality.frame = frame
    rows, _ = B.run_clip(st, quality, B.DEFAULT_STYLE, clip, args.frames, {n: everything[n] for n in names}, 2, 1)
    per = len(seen) // len(names)
    print(f"{clip.name}, frames {clip.first}-{clip.first + per - 1}, --size {args.size}: style fraction per frame "
          f"(lower is more stylized), then the clip's ratio / structure / style")
    for i, (name, row) in enumerate(zip(names, rows)):
        styles = " ".join(f"{s:.3f}" for _, _, _, s in seen[i * per:(i + 1) * per])
        print(f"{name}\n  {styles}\n  ratio {row.ratio:.3f}, structure {row.structure:.4f}, style {row.style:.4f}")


if __name__ == "__main__":
    main()
