"""The model alone on a GPU (or CPU): encoder, AdaIN and decoder timed separately.

    python benchmarks/bench_model.py --device cuda --json-out bench.json --note "lent GPU" --results benchmarks/RESULTS.md
    python benchmarks/bench_model.py --device cpu --resolutions 96x64 --batches 1,2 --repeats 2   # smoke test

For each resolution (1080p = 1920x1080, 4k = 3840x2160, or WxH), dtype (fp32
with TF32 matmuls allowed, bf16 autocast) and batch: random frames already on
the device, channels_last, no gradients; two warm-up rounds, then ``--repeats``
timed rounds; each stage ends with a device synchronize so the three stage
times add up to a round. ``*_ms`` fields are per round (the whole batch);
the frames per second are batch / median round time.
Imports only torch and vidstyle's model and statistics (no PyAV, no kornia), so
it runs on a bare GPU machine; the GPU job (training/gpu_job.py) calls it.
Rows over ``--budget-seconds`` are skipped and say so; out-of-memory rows say so.
``--results`` writes the table into its section of that file (``benchmarks/report.py``).
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
from vidstyle.model import load_decoder, load_encoder  # noqa: E402
from vidstyle.stats import adain  # noqa: E402

RESOLUTIONS = {"1080p": (1080, 1920), "4k": (2160, 3840)}


def parse_resolution(text: str) -> tuple[int, int]:
    if text in RESOLUTIONS:
        return RESOLUTIONS[text]
    w, h = text.lower().split("x")
    return int(h), int(w)


def _timed(fn, device: torch.device):
    t = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - t


@torch.no_grad()
def bench_row(encoder, decoder, style_mean, style_std, size: tuple[int, int], batch: int, dtype: str,
              repeats: int, device: torch.device) -> dict:
    """Median per-stage seconds of ``repeats`` rounds on a ``(batch, 3, H, W)`` input."""
    frames = torch.rand(batch, 3, *size, device=device).contiguous(memory_format=torch.channels_last)
    use_bf16 = dtype == "bf16"
    stages: dict[str, list[float]] = {"encoder": [], "adain": [], "decoder": []}
    for round_ in range(2 + repeats):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            feat, t_enc = _timed(lambda: encoder.encode(frames), device)
            target, t_ada = _timed(lambda: adain(feat, style_mean, style_std), device)
            out, t_dec = _timed(lambda: decoder(target), device)
        if round_ >= 2:
            stages["encoder"].append(t_enc)
            stages["adain"].append(t_ada)
            stages["decoder"].append(t_dec)
    del frames, feat, target, out
    med = {k: statistics.median(v) for k, v in stages.items()}
    total = sum(med.values())
    return {"resolution": f"{size[1]}x{size[0]}", "dtype": dtype, "batch": batch,
            **{f"{k}_ms": round(v * 1000, 3) for k, v in med.items()},
            "fps": round(batch / total, 2), "status": "ok"}


def run(device: str = "cuda", resolutions: tuple[str, ...] = ("1080p", "4k"), batches: tuple[int, ...] = (1, 4, 8, 16),
        dtypes: tuple[str, ...] = ("bf16", "fp32"), repeats: int = 5, budget_seconds: float = 90.0,
        decoder_path: Path | None = None, json_out: Path | None = None, log=print) -> list[dict]:
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    encoder = load_encoder().to(dev).to(memory_format=torch.channels_last)
    decoder = (load_decoder(path=decoder_path) if decoder_path else load_decoder()).to(dev).to(memory_format=torch.channels_last)
    # A fixed style: the statistics' values do not change the arithmetic.
    gen = torch.Generator().manual_seed(0)
    style_mean = torch.rand(1, 512, 1, 1, generator=gen).to(dev)
    style_std = torch.rand(1, 512, 1, 1, generator=gen).add(0.1).to(dev)
    rows: list[dict] = []
    start = time.monotonic()
    for res in resolutions:
        size = parse_resolution(res)
        for dtype in dtypes:
            for batch in batches:
                if time.monotonic() - start > budget_seconds:
                    row = {"resolution": f"{size[1]}x{size[0]}", "dtype": dtype, "batch": batch, "status": "skipped (time budget)"}
                else:
                    try:
                        row = bench_row(encoder, decoder, style_mean, style_std, size, batch, dtype, repeats, dev)
                    except torch.OutOfMemoryError:
                        row = {"resolution": f"{size[1]}x{size[0]}", "dtype": dtype, "batch": batch, "status": "out of memory"}
                    if dev.type == "cuda":
                        torch.cuda.empty_cache()
                rows.append(row)
                log(json.dumps(row))
                if json_out is not None:  # rewritten after every row: a run cut short keeps what it measured
                    meta = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                            "torch": torch.__version__, "channels_last": True, "repeats": repeats}
                    json_out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="model-alone speed: encoder, AdaIN, decoder")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--resolutions", default="1080p,4k", help="comma list of 1080p, 4k or WxH")
    ap.add_argument("--batches", default="1,4,8,16")
    ap.add_argument("--dtypes", default="bf16,fp32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget-seconds", type=float, default=90.0)
    ap.add_argument("--decoder", type=Path, default=None, help="decoder file (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json-out", type=Path, default=None)
    report.add_options(ap)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.device, tuple(args.resolutions.split(",")), tuple(int(b) for b in args.batches.split(",")),
               tuple(args.dtypes.split(",")), args.repeats, args.budget_seconds, args.decoder, args.json_out)
    table = ["| resolution | dtype | batch | encoder ms | AdaIN ms | decoder ms | fps |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["status"] == "ok":
            table.append(f"| {r['resolution']} | {r['dtype']} | {r['batch']} | {r['encoder_ms']:.2f} "
                         f"| {r['adain_ms']:.2f} | {r['decoder_ms']:.2f} | {r['fps']:.1f} |")
        else:
            table.append(f"| {r['resolution']} | {r['dtype']} | {r['batch']} | {r['status']} | | | |")
    report.publish(args, f"bench_model/{torch.device(args.device).type}", "\n".join([
        "## The model alone",
        "",
        f"Random frames already on {args.device}, channels_last, no gradients; ms per round of a whole batch "
        f"(two warm-up rounds, then medians of {args.repeats}); fps = batch / the stages' sum.",
        "",
        *table,
    ]), device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
