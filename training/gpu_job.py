"""The whole GPU run in one command: train, evaluate against the shipped decoder, benchmark.

    python training/gpu_job.py --minutes 7 --out OUTDIR

Runs from a plain copy of the repository with only torch, numpy, pillow and
safetensors importable (no PyAV, no kornia, vidstyle not installed). Everything
it writes goes into ``--out`` and fits what a lent GPU machine sends back
(at most 8 files of 16 MiB, no sub-folders):

- ``job.json``          written first: card, memory, torch and CUDA versions, commit, arguments; completed at the end
- ``decoder.safetensors`` the fp16 decoder, exported every ``--export-minutes`` and at the end (7 MB)
- ``loss_log.csv``      the training log
- ``eval.json``         shipped vs new on the validation pairs at each ``--eval-size``, phase error included
- ``contact_sheet.png`` content | style | shipped | new, first 8 validation pairs, at the last eval size
- ``bench.json``        model alone: encoder, AdaIN, decoder; bf16 and fp32; batches; 1080p and 4K

The stdout of the job is best tee'd to ``OUTDIR/log.txt`` (the 7th file).
training/README.md gives the exact command for the lent machine.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_model  # noqa: E402
import evaluate  # noqa: E402
import train  # noqa: E402
from vidstyle.model import load_decoder  # noqa: E402


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(card=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count, cudnn=torch.backends.cudnn.version())
    else:
        info.update(card="cpu", threads=torch.get_num_threads())
    return info


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train, evaluate and benchmark the decoder on a lent GPU")
    ap.add_argument("--minutes", type=float, default=7.0, help="training-loop minutes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--commit", default=None, help="the repository's commit (default: asked of git, if there)")
    ap.add_argument("--eval-size", type=int, action="append", default=[], help="default 256 and 512")
    ap.add_argument("--bench-seconds", type=float, default=75.0, help="0: no benchmark")
    ap.add_argument("--bench-resolutions", default="1080p,4k")
    ap.add_argument("--bench-batches", default="1,4,8,16")
    ap.add_argument("--train-arg", action="append", default=[],
                    help="extra argument for training/train.py, e.g. --train-arg=--crop=128 (repeatable)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    args.out.mkdir(parents=True, exist_ok=True)
    job = {"machine": machine(device), "commit": args.commit or git_commit(),
           "arguments": {k: str(v) for k, v in vars(args).items()}, "status": "started"}
    write_json(args.out / "job.json", job)
    print(json.dumps(job), flush=True)

    decoder_file = args.out / "decoder.safetensors"
    train_argv = ["--data", str(args.data), "--minutes", str(args.minutes), "--device", str(device),
                  "--out", str(decoder_file), "--no-sums", "--run-dir", str(args.out),
                  "--checkpoint-minutes", "0", *args.train_arg]
    train_args = train.parser().parse_args(train_argv)
    job["train_arguments"] = train_argv
    try:
        job["training"] = train.train(train_args)
        job["status"] = "trained"
    except train.NonFiniteLoss as exc:
        job["status"] = f"stopped: {exc}"
        print(job["status"], flush=True)
    job["seconds_after_training"] = round(time.monotonic() - t0, 1)
    write_json(args.out / "job.json", job)

    if decoder_file.exists():
        decoders = {"shipped": load_decoder(), "new": load_decoder(path=decoder_file)}
        sizes = tuple(args.eval_size or [256, 512])
        results = evaluate.evaluate(args.data, decoders, sizes, args.out / "contact_sheet.png", device=device,
                                    phase=True)
        for r in results:
            print(json.dumps(r), flush=True)
        write_json(args.out / "eval.json", {"card": job["machine"]["card"], "results": results})
        job["seconds_after_eval"] = round(time.monotonic() - t0, 1)
        write_json(args.out / "job.json", job)

    if args.bench_seconds > 0:
        bench_model.run(str(device), tuple(args.bench_resolutions.split(",")),
                        tuple(int(b) for b in args.bench_batches.split(",")), repeats=5,
                        budget_seconds=args.bench_seconds, json_out=args.out / "bench.json",
                        log=lambda line: print(line, flush=True))
    job["seconds_total"] = round(time.monotonic() - t0, 1)
    if job["status"] == "trained":
        job["status"] = "done"
    write_json(args.out / "job.json", job)
    print(json.dumps({"status": job["status"], "seconds_total": job["seconds_total"]}), flush=True)
    return 0 if job["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
