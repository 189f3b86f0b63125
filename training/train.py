"""Train the AdaIN decoder.

    python training/train.py --data training/data --minutes 40                 # CPU
    python training/train.py --data training/data --minutes 8 --crop 256       # CUDA: bf16, channels_last, data on the GPU

The prepared set (training/build_dataset.py) is decoded once into memory — GPU
memory on CUDA — and random crops and flips are cut there, so the loop never
waits on image files. Adam, lr 1e-4 with inverse-time decay 5e-5 per iteration
(as the official code), style weight 10. Seeded; a checkpoint in --run-dir is
written every few minutes and at the end (--resume continues it); when the
--minutes budget is spent it stops cleanly and writes the fp16 decoder plus a
CSV loss log.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from objective import STYLE_WEIGHT, adain_losses  # noqa: E402
from vidstyle.imageio import read_image, resize_short  # noqa: E402
from vidstyle.model import DECODER_FILE, SUMS_FILE, Decoder, encoder_id, load_encoder, weights_dir  # noqa: E402


def load_folder(folder: Path, short: int, device: torch.device, limit: int | None = None) -> list[torch.Tensor]:
    """Every image of ``folder`` as uint8 ``(3, H, W)`` on ``device``, shorter side ``short``."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
    if not files:
        raise SystemExit(f"no images in {folder}: build the set with training/build_dataset.py")
    out = []
    for p in files:
        img = resize_short(read_image(p).rgb, short)
        out.append((img[0] * 255).round().to(torch.uint8).to(device))
    return out


def random_crops(images: list[torch.Tensor], n: int, crop: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random ``crop``-square crops with random horizontal flips, float ``(n, 3, crop, crop)`` in [0, 1]."""
    picks = torch.randint(len(images), (n,), generator=gen).tolist()
    flips = torch.rand(n, generator=gen).lt(0.5).tolist()
    crops = []
    for i, flip in zip(picks, flips):
        img = images[i]
        h, w = img.shape[-2:]
        y = int(torch.randint(h - crop + 1, (1,), generator=gen))
        x = int(torch.randint(w - crop + 1, (1,), generator=gen))
        c = img[:, y : y + crop, x : x + crop]
        crops.append(c.flip(-1) if flip else c)
    return torch.stack(crops).float().div_(255.0)


def write_decoder(decoder: Decoder, out: Path, meta: dict[str, str]) -> str:
    """Save the decoder as fp16 safetensors and record its sha256 in the folder's SHA256SUMS."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in decoder.state_dict().items()}
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    sums = out.parent / SUMS_FILE
    lines = [ln for ln in (sums.read_text().splitlines() if sums.exists() else []) if not ln.endswith(f"  {out.name}")]
    sums.write_text("\n".join(sorted(lines + [f"{digest}  {out.name}"], key=lambda s: s.split()[-1])) + "\n")
    return digest


def pick_batch(device: torch.device, requested: int) -> int:
    if requested > 0:
        return requested
    if device.type != "cuda":
        return 8
    # Fill the card: about 0.45 GB per 256-px sample through encoder, decoder and loss encoder in bf16.
    free, _ = torch.cuda.mem_get_info()
    return int(max(8, min(256, free / 0.45e9 * 0.7)) // 8 * 8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the AdaIN decoder")
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--minutes", type=float, required=True, help="time budget; stops cleanly when spent")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--load-size", type=int, default=0, help="shorter side images are resized to (default 2x crop, as 512/256 in the paper)")
    ap.add_argument("--batch", type=int, default=0, help="0: 8 on CPU, fill the card on CUDA")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--lr-decay", type=float, default=5e-5)
    ap.add_argument("--style-weight", type=float, default=STYLE_WEIGHT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--run-dir", type=Path, default=ROOT / "training" / "runs" / "default")
    ap.add_argument("--resume", action="store_true", help="continue from --run-dir/checkpoint.pt")
    ap.add_argument("--init", type=Path, default=None, help="start from this decoder file instead of random weights")
    ap.add_argument("--out", type=Path, default=None, help=f"decoder file (default weights/{DECODER_FILE})")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0)
    ap.add_argument("--limit-images", type=int, default=None, help="use only the first N images of each set (tests)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    start = time.monotonic()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    gen = torch.Generator(device="cpu").manual_seed(args.seed)

    load_size = args.load_size or 2 * args.crop
    content = load_folder(args.data / "content", load_size, device, args.limit_images)
    styles = load_folder(args.data / "style", load_size, device, args.limit_images)
    print(f"data: {len(content)} content, {len(styles)} style images at {load_size}px on {device} "
          f"({(time.monotonic() - start):.1f}s)", flush=True)

    encoder = load_encoder().to(device)
    decoder = Decoder().to(device)
    if args.init:
        from vidstyle.model import load_decoder

        decoder.load_state_dict(load_decoder(path=args.init).state_dict())
    if cuda:
        encoder.to(memory_format=torch.channels_last)
        decoder.to(memory_format=torch.channels_last)
    decoder.train()
    opt = torch.optim.Adam(decoder.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0 / (1.0 + args.lr_decay * it))
    batch = pick_batch(device, args.batch)

    args.run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.run_dir / "checkpoint.pt"
    log_path = args.run_dir / "loss_log.csv"
    it, samples, trained_s = 0, 0, 0.0
    if args.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        decoder.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        it, samples, trained_s = ck["iteration"], ck["samples"], ck["trained_seconds"]
        print(f"resumed at iteration {it} ({samples} samples)", flush=True)
    elif log_path.exists():
        log_path.unlink()

    def checkpoint(seconds: float) -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"decoder": decoder.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "iteration": it,
                    "samples": samples, "trained_seconds": seconds, "args": vars(args) | {"data": str(args.data)}}, tmp)
        tmp.replace(ckpt_path)

    new_log = not log_path.exists()
    log_file = open(log_path, "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(["iteration", "samples", "seconds", "loss_content", "loss_style", "loss_total", "lr", "samples_per_s"])

    print(f"training: batch {batch}, crop {args.crop}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if cuda else ""), flush=True)
    budget = args.minutes * 60.0
    loop_start = time.monotonic()
    last_ckpt = last_print = loop_start
    window_samples, window_start = 0, loop_start
    while time.monotonic() - start < budget:
        c = random_crops(content, batch, args.crop, gen)
        s = random_crops(styles, batch, args.crop, gen)
        if cuda:
            c = c.contiguous(memory_format=torch.channels_last)
            s = s.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            losses = adain_losses(encoder, decoder, c, s)
            loss = losses.total(args.style_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        it += 1
        samples += batch
        window_samples += batch
        now = time.monotonic()
        if it % 10 == 0 or now - last_print > 30:
            rate = window_samples / max(now - window_start, 1e-9)
            lc, ls = float(losses.content.detach()), float(losses.style.detach())
            log.writerow([it, samples, f"{trained_s + now - loop_start:.1f}", f"{lc:.4f}", f"{ls:.4f}",
                          f"{lc + args.style_weight * ls:.4f}", f"{sched.get_last_lr()[0]:.3e}", f"{rate:.2f}"])
            log_file.flush()
            if now - last_print > 30:
                print(f"it {it} samples {samples} content {lc:.3f} style {ls:.3f} {rate:.1f} samples/s", flush=True)
                last_print = now
            window_samples, window_start = 0, now
        if now - last_ckpt > args.checkpoint_minutes * 60:
            checkpoint(trained_s + now - loop_start)
            last_ckpt = now
    trained_s += time.monotonic() - loop_start
    log_file.close()
    checkpoint(trained_s)
    decoder.eval()
    meta = {
        "encoder_id": encoder_id(), "iterations": str(it), "samples": str(samples), "crop": str(args.crop),
        "batch": str(batch), "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "train_seconds": f"{trained_s:.0f}", "style_weight": str(args.style_weight), "seed": str(args.seed),
    }
    out = args.out or weights_dir() / DECODER_FILE
    digest = write_decoder(decoder, out, meta)
    print(json.dumps({"decoder": str(out), "sha256": digest, **meta}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
