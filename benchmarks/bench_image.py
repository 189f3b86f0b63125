"""CPU (or GPU) time per image at a working size: encoder, AdaIN, decoder separately.

    python benchmarks/bench_image.py --size 512 --repeats 7 --note "quiet" --results benchmarks/RESULTS.md

Times each stage on a real photo (tests/data/chelsea.jpg resized to the working
size) after one warm-up, and prints the median and the spread of the repeats,
plus each stage's share of the whole. This machine is shared and noisy: read
the medians and the shares, not single runs. ``--results`` writes the table into
its section of that file (see ``benchmarks/report.py``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vidstyle.imageio import read_image, resize, working_size  # noqa: E402
from vidstyle.stats import adain  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402


def timed(fn, repeats: int, sync) -> list[float]:
    fn()
    sync()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    report.add_options(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    st = Stylizer(device=args.device, size=args.size)
    sync = torch.cuda.synchronize if st.device.type == "cuda" else (lambda: None)
    img = read_image(ROOT / "tests" / "data" / "chelsea.jpg").rgb
    # Scale the test photo so that its longest side is exactly --size (the
    # working size stylize() uses): real content, the network's real cost.
    h0, w0 = img.shape[-2:]
    scale = args.size / max(h0, w0)
    h, w = working_size(round(h0 * scale), round(w0 * scale), args.size)
    x = resize(img, (h, w)).to(st.device)
    look = st.look([ROOT / "tests" / "data" / "coffee.jpg"])
    mean, std = look.styles[0].as_tensors(st.device)
    feats = st.encoder.encode(x)
    target = adain(feats, mean, std)
    stages = {
        "encoder": timed(lambda: st.encoder.encode(x), args.repeats, sync),
        "adain": timed(lambda: adain(feats, mean, std), args.repeats, sync),
        "decoder": timed(lambda: st.decoder(target), args.repeats, sync),
        "whole stylize()": timed(lambda: st.stylize(x, look), args.repeats, sync),
    }
    total = sum(statistics.median(v) for k, v in stages.items() if k != "whole stylize()")
    rows = {}
    lines = ["| stage | median | min | max | share of encoder + AdaIN + decoder |", "| --- | ---: | ---: | ---: | ---: |"]
    labels = {"encoder": "encoder (VGG-19 to relu4_1)", "adain": "AdaIN", "decoder": "decoder",
              "whole stylize()": "whole `Stylizer.stylize` (resize, all three, clamp)"}
    for name, times in stages.items():
        med = statistics.median(times)
        rows[name] = {"median_s": round(med, 4), "min_s": round(min(times), 4), "max_s": round(max(times), 4)}
        share = f"{100 * med / total:.1f}%" if name != "whole stylize()" else ""
        lines.append(f"| {labels[name]} | {med * 1000:.1f} ms | {min(times) * 1000:.1f} | {max(times) * 1000:.1f} | {share} |")
    whole = statistics.median(stages["whole stylize()"])
    h, w = x.shape[-2:]
    report.publish(args, f"bench_image/{st.device.type}", "\n".join([
        "## Still image, per stage",
        "",
        f"`tests/data/chelsea.jpg` scaled to the working size {w}x{h} (longest side {args.size}), on {st.device}; "
        f"style `tests/data/coffee.jpg`. One warm-up, then medians of {args.repeats} repeats.",
        "",
        *lines,
        "",
        f"The stages timed one by one add up to {total * 1000:.1f} ms; the whole call took {whole * 1000:.1f} ms.",
    ]), device=str(st.device))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
