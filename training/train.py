"""Train the AdaIN decoder.

    python training/train.py --data training/data --minutes 40 --crop 128 --batch 8     # CPU
    python training/gpu_job.py --minutes 7 --out OUTDIR                                  # CUDA: see README.md

The prepared set (training/build_dataset.py) is decoded once into memory — GPU
memory on CUDA — and random crops and flips are cut there, so the loop never
waits on image files. Adam with a linear learning-rate warm-up and the official
code's inverse-time decay; style weight 10; a quarter of each batch are
reconstruction pairs (style = content) with a pixel loss of weight 10
(``--recon-fraction 0`` for the paper's plain recipe; EXPERIMENTS.md says why). Seeded.

Time: ``--minutes`` is training-loop time. It starts at the first real step,
after ``--warmup-steps`` forward/backward passes that change nothing (they let
cuDNN pick its kernels), so image decoding and autotuning never eat the budget.
``--cpu-minutes`` is a budget of this process's CPU time in the loop instead:
on a shared CPU, where a run may be slowed or paused (``kill -STOP``) by other
work, it is what makes runs comparable.

Speed: bfloat16 autocast with channels_last tensors on CUDA, and on CPUs that
compute bfloat16 natively (AMX or AVX-512 BF16: about three times the float32
step there); float32 elsewhere (``--precision``). The objective's channel
statistics are matrix products with a closed-form backward (objective.py).

Results: the fp16 decoder is exported to ``--out`` every ``--export-minutes`` and
when the loop ends — budget spent, SIGTERM or Ctrl-C — so a run cut short still
leaves a decoder. A non-finite loss stops the run at once without exporting: the
last good export stays. A checkpoint in ``--run-dir`` is written every
``--checkpoint-minutes`` (0: never) and ``--resume`` continues it.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from objective import STYLE_WEIGHT, adain_losses, shift_loss  # noqa: E402
from vidstyle.imageio import read_image, resize_short  # noqa: E402
from vidstyle.model import DECODER_FILE, SUMS_FILE, Decoder, encoder_id, load_decoder, load_encoder, weights_dir  # noqa: E402
# The network's grid: shift twins move by 0-7 px each way, every phase of it but none.
from vidstyle.temporal import GRID  # noqa: E402

# The recipe (training/README.md says why): batch 8 on CPU, 32 on CUDA, with
# the learning rate scaled by sqrt(batch / 8) from the paper's 1e-4.
BASE_LR, BASE_BATCH = 1e-4, 8
CUDA_BATCH = 32
# A quarter of each batch are reconstruction (alpha-0) pairs with a pixel loss of
# weight 10: at equal CPU time it beat plain AdaIN training on every validation
# number, and on the H200 it lifted the alpha-0 PSNR above 20 dB (EXPERIMENTS.md).
RECON_FRACTION, PIXEL_WEIGHT = 0.25, 10.0
EXIT_NONFINITE = 3
LOG_HEADER = ["iteration", "samples", "seconds", "loss_content", "loss_style", "loss_total", "lr", "samples_per_s",
              "cpu_seconds", "loss_pixel", "loss_shift"]


class NonFiniteLoss(RuntimeError):
    pass


def _load_one(path: Path, short: int) -> torch.Tensor:
    img = resize_short(read_image(path).rgb, short)
    return (img[0] * 255).round().to(torch.uint8)


def load_folder(folder: Path, short: int, device: torch.device, limit: int | None = None) -> list[torch.Tensor]:
    """Every image of ``folder`` as uint8 ``(3, H, W)`` on ``device``, shorter side ``short``."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
    if not files:
        raise SystemExit(f"no images in {folder}: build the set with training/build_dataset.py")
    # JPEG decoding releases the GIL: threads make the load a few seconds on a many-core machine.
    with ThreadPoolExecutor(max_workers=8) as pool:
        images = list(pool.map(lambda p: _load_one(p, short), files))
    return [img.to(device) for img in images]


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


def shifted_crops(images: list[torch.Tensor], n: int, crop: int, gen: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """``n`` crops as :func:`random_crops`, each with a twin cut ``(dx, dy)`` pixels further on.

    ``twin(p) = crop(p + d)``, with ``d`` in [0, 8) each way and not (0, 0):
    the phases of the network's 8-px grid (objective.shift_loss). A flip
    turns the whole window, so the relation holds either way.

    Shape:
        -> two float ``(n, 3, crop, crop)`` in [0, 1] and ``n`` shifts ``(dx, dy)``.
    """
    picks = torch.randint(len(images), (n,), generator=gen).tolist()
    flips = torch.rand(n, generator=gen).lt(0.5).tolist()
    codes = (torch.randint(GRID * GRID - 1, (n,), generator=gen) + 1).tolist()
    reach = GRID - 1
    bases, twins, shifts = [], [], []
    for i, flip, code in zip(picks, flips, codes):
        img = images[i]
        h, w = img.shape[-2:]
        y = int(torch.randint(h - crop - reach + 1, (1,), generator=gen))
        x = int(torch.randint(w - crop - reach + 1, (1,), generator=gen))
        window = img[:, y : y + crop + reach, x : x + crop + reach]
        window = window.flip(-1) if flip else window
        dx, dy = code % GRID, code // GRID
        bases.append(window[:, :crop, :crop])
        twins.append(window[:, dy : dy + crop, dx : dx + crop])
        shifts.append((dx, dy))
    return torch.stack(bases).float().div_(255.0), torch.stack(twins).float().div_(255.0), shifts


def write_decoder(decoder: Decoder, out: Path, meta: dict[str, str], *, update_sums: bool = True) -> str:
    """Save the decoder as fp16 safetensors (atomically); with ``update_sums`` record its sha256 in the folder's SHA256SUMS."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in decoder.state_dict().items()}
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    if update_sums:
        sums = out.parent / SUMS_FILE
        lines = [ln for ln in (sums.read_text().splitlines() if sums.exists() else []) if not ln.endswith(f"  {out.name}")]
        sums.write_text("\n".join(sorted(lines + [f"{digest}  {out.name}"], key=lambda s: s.split()[-1])) + "\n")
    return digest


def default_batch(device: torch.device) -> int:
    return CUDA_BATCH if device.type == "cuda" else BASE_BATCH


def scaled_lr(batch: int) -> float:
    """The paper's 1e-4 at batch 8, scaled by sqrt(batch / 8) (Adam's noise scale)."""
    return BASE_LR * math.sqrt(batch / BASE_BATCH)


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 convolutions run natively on ``device`` (every CUDA card we use; AMX/AVX-512 BF16 CPUs)."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def recon_count(batch: int, fraction: float, samples: int, warmup_samples: int) -> int:
    """How many pairs of the next batch are reconstruction (alpha-0) samples: all of them during the warm-up."""
    if samples < warmup_samples:
        return batch
    return min(batch, max(1, round(batch * fraction))) if fraction > 0 else 0


def lr_factor(it: int, warmup: int, decay: float) -> float:
    """Linear warm-up over ``warmup`` iterations, then the official code's inverse-time decay."""
    ramp = min(1.0, (it + 1) / warmup) if warmup > 0 else 1.0
    return ramp / (1.0 + decay * it)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="train the AdaIN decoder")
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--minutes", type=float, required=True, help="training-loop time; stops cleanly when spent")
    ap.add_argument("--cpu-minutes", type=float, default=0.0,
                    help="also stop after this much CPU time of this process in the loop (0: no limit; shared CPUs)")
    ap.add_argument("--samples", type=int, default=0, help="also stop after this many samples in all (0: no limit; equal-sample experiments)")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--load-size", type=int, default=0, help="shorter side images are resized to (default 2x crop, as 512/256 in the paper)")
    ap.add_argument("--batch", type=int, default=0, help=f"0: {BASE_BATCH} on CPU, {CUDA_BATCH} on CUDA")
    ap.add_argument("--lr", type=float, default=0.0, help=f"0: {BASE_LR:g} x sqrt(batch / {BASE_BATCH})")
    ap.add_argument("--lr-warmup", type=int, default=-1, help="linear warm-up iterations (-1: 200 on CUDA, 0 on CPU)")
    ap.add_argument("--lr-decay", type=float, default=5e-5)
    ap.add_argument("--style-weight", type=float, default=STYLE_WEIGHT)
    ap.add_argument("--recon-fraction", type=float, default=RECON_FRACTION,
                    help="share of each batch whose style is its own content (alpha 0: the decoder learns to give the "
                         "content back); 0: plain AdaIN training")
    ap.add_argument("--recon-warmup", type=int, default=0, help="samples of reconstruction only before AdaIN training")
    ap.add_argument("--pixel-weight", type=float, default=PIXEL_WEIGHT, help="weight of the pixel loss on the reconstruction samples")
    ap.add_argument("--tv-weight", type=float, default=0.0, help="weight of the output's total variation")
    ap.add_argument("--shift-weight", type=float, default=0.0,
                    help="weight of the shift-equivariance loss (objective.shift_loss; 0: off)")
    ap.add_argument("--shift-pairs", type=int, default=0,
                    help="AdaIN pairs of each batch that get a twin moved by a fraction of the grid (0: half the batch)")
    ap.add_argument("--shift-margin", type=int, default=16, help="pixels of every edge the shift loss leaves out")
    ap.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="auto: bfloat16 autocast + channels_last where bf16 is native (CUDA, AMX CPUs), else float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--run-dir", type=Path, default=ROOT / "training" / "runs" / "default")
    ap.add_argument("--resume", action="store_true", help="continue from --run-dir/checkpoint.pt")
    ap.add_argument("--init", type=Path, default=None, help="start from this decoder file instead of random weights")
    ap.add_argument("--out", type=Path, default=None, help=f"decoder file (default weights/{DECODER_FILE})")
    ap.add_argument("--no-sums", action="store_true", help="do not record the export in SHA256SUMS beside --out")
    ap.add_argument("--export-minutes", type=float, default=2.0, help="export the decoder this often (0: only at the end)")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0, help="0: no checkpoints")
    ap.add_argument("--warmup-steps", type=int, default=-1, help="untimed passes that change nothing (-1: 3 on CUDA, 0 on CPU)")
    ap.add_argument("--limit-images", type=int, default=None, help="use only the first N images of each set (tests)")
    ap.add_argument("--threads", type=int, default=0)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        summary = train(args)
    except NonFiniteLoss as exc:
        print(f"stopped: {exc}; the last good export (if any) is kept", file=sys.stderr, flush=True)
        return EXIT_NONFINITE
    print(json.dumps(summary), flush=True)
    return 0


def train(args: argparse.Namespace) -> dict[str, str]:
    """Run the loop described in the module docstring; returns the exported decoder's metadata."""
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
    batch = args.batch or default_batch(device)
    lr = args.lr or scaled_lr(batch)
    lr_warmup = args.lr_warmup if args.lr_warmup >= 0 else (200 if cuda else 0)
    warmup_steps = args.warmup_steps if args.warmup_steps >= 0 else (3 if cuda else 0)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and native_bf16(device))

    t0 = time.monotonic()
    load_size = args.load_size or 2 * args.crop
    content = load_folder(args.data / "content", load_size, device, args.limit_images)
    styles = load_folder(args.data / "style", load_size, device, args.limit_images)
    print(f"data: {len(content)} content, {len(styles)} style images at {load_size}px on {device} "
          f"({(time.monotonic() - t0):.1f}s)", flush=True)

    encoder = load_encoder().to(device)
    decoder = Decoder()
    if args.init:
        decoder.load_state_dict(load_decoder(path=args.init).state_dict())
        decoder.requires_grad_(True)
    decoder.to(device)
    if bf16:
        # channels_last pays with bf16 (oneDNN, cuDNN); on a CPU in float32 it is slower.
        encoder.to(memory_format=torch.channels_last)
        decoder.to(memory_format=torch.channels_last)
    decoder.train()
    opt = torch.optim.Adam(decoder.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: lr_factor(it, lr_warmup, args.lr_decay))

    args.run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.run_dir / "checkpoint.pt"
    log_path = args.run_dir / "loss_log.csv"
    it, samples, trained_s, cpu_s = 0, 0, 0.0, 0.0
    if args.resume and ckpt_path.exists():
        # Load on the CPU: the saved RNG states must stay CPU tensors; the optimizer
        # state follows the parameters' device in load_state_dict.
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        decoder.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        it, samples, trained_s = ck["iteration"], ck["samples"], ck["trained_seconds"]
        cpu_s = ck.get("cpu_seconds", 0.0)
        print(f"resumed at iteration {it} ({samples} samples)", flush=True)
    elif log_path.exists():
        log_path.unlink()

    shift_pairs = 0
    if args.shift_weight > 0:
        shift_pairs = args.shift_pairs or batch // 2
        # Twins are cut for AdaIN pairs only (a reconstruction pair's style is its own content).
        if shift_pairs > batch - recon_count(batch, args.recon_fraction, 1 << 62, 0):
            raise SystemExit(f"--shift-pairs {shift_pairs} is more than the batch's {batch} pairs less its reconstruction pairs")

    def crops(g: torch.Generator, recon: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """A batch of content and style crops; with the shift loss, the AdaIN pairs' twins appended (and their styles)."""
        c, s = random_crops(content, batch, args.crop, g), random_crops(styles, batch, args.crop, g)
        k = min(shift_pairs, batch - recon)
        if not k:
            return c, s, []
        bases, twins, shifts = shifted_crops(content, k, args.crop, g)
        c[recon : recon + k] = bases
        return torch.cat([c, twins]), torch.cat([s, s[recon : recon + k]]), shifts

    def step(c: torch.Tensor, s: torch.Tensor, shifts: list[tuple[int, int]], recon: int):
        if bf16:
            c = c.contiguous(memory_format=torch.channels_last)
            s = s.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            losses = adain_losses(encoder, decoder, c, s, recon=recon, tv=args.tv_weight > 0)
            loss = losses.total(args.style_weight, args.pixel_weight, args.tv_weight)
            if shifts:
                k = len(shifts)
                losses.shift = shift_loss(losses.output[recon : recon + k], losses.output[batch:], shifts, args.shift_margin)
                loss = loss + args.shift_weight * losses.shift
        opt.zero_grad(set_to_none=True)
        loss.backward()
        return losses

    # Warm-up passes: the same shapes as training, so cuDNN autotunes here, on
    # crops from a separate generator, and no optimizer step: they change nothing.
    warm_gen = torch.Generator(device="cpu").manual_seed(args.seed + 1)
    for _ in range(warmup_steps):
        recon = recon_count(batch, args.recon_fraction, 0, args.recon_warmup)
        step(*crops(warm_gen, recon), recon=recon)
    opt.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
    print(f"ready after {time.monotonic() - t0:.1f}s ({warmup_steps} warm-up passes)", flush=True)

    def checkpoint(seconds: float, cpu_seconds: float) -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"decoder": decoder.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "iteration": it,
                    "samples": samples, "trained_seconds": seconds, "cpu_seconds": cpu_seconds,
                    "args": {k: str(v) for k, v in vars(args).items()}}, tmp)
        tmp.replace(ckpt_path)

    out = args.out or weights_dir() / DECODER_FILE
    exported: dict[str, str] = {}

    def export(seconds: float, cpu_seconds: float) -> None:
        # A finite loss can still come with a non-finite gradient (bf16 overflow):
        # check the weights themselves before they replace the last good export.
        if not all(bool(torch.isfinite(p).all()) for p in decoder.parameters()):
            raise NonFiniteLoss(f"non-finite decoder weights at iteration {it}")
        meta = {
            "encoder_id": encoder_id(), "iterations": str(it), "samples": str(samples), "crop": str(args.crop),
            "batch": str(batch), "lr": f"{lr:g}", "device": torch.cuda.get_device_name(device) if cuda else "cpu",
            "train_seconds": f"{seconds:.0f}", "cpu_seconds": f"{cpu_seconds:.0f}", "style_weight": str(args.style_weight), "seed": str(args.seed),
            "load_size": str(load_size), "precision": "bf16" if bf16 else "fp32",
            "recon_fraction": str(args.recon_fraction), "recon_warmup": str(args.recon_warmup),
            "pixel_weight": str(args.pixel_weight), "tv_weight": str(args.tv_weight),
            "shift_weight": str(args.shift_weight), "shift_pairs": str(shift_pairs),
            "init": args.init.name if args.init else "random",
        }
        was_training = decoder.training
        decoder.eval()
        digest = write_decoder(decoder, out, meta, update_sums=not args.no_sums)
        decoder.train(was_training)
        exported.clear()
        exported.update(meta, decoder=str(out), sha256=digest)
        print(f"exported {out} at iteration {it} ({samples} samples)", flush=True)

    new_log = not log_path.exists()
    log_file = open(log_path, "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(LOG_HEADER)

    logged = {"iteration": it}

    def log_row(lc: float, ls: float, now: float, seconds: float, cpu_seconds: float) -> float:
        """One loss_log.csv row for the current iteration; returns the samples per second of the window it closes."""
        rate = window_samples / max(now - window_start, 1e-9)
        lp = "" if losses.pixel is None else f"{float(losses.pixel.detach()):.5f}"
        lsh = "" if losses.shift is None else f"{float(losses.shift.detach()):.6f}"
        log.writerow([it, samples, f"{seconds:.1f}", f"{lc:.4f}", f"{ls:.4f}", f"{lc + args.style_weight * ls:.4f}",
                      f"{sched.get_last_lr()[0]:.3e}", f"{rate:.2f}", f"{cpu_seconds:.1f}", lp, lsh])
        log_file.flush()
        logged["iteration"] = it
        return rate

    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    print(f"training: batch {batch}, lr {lr:g} (warm-up {lr_warmup}), crop {args.crop}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if cuda else "") + (", bf16" if bf16 else ", fp32"), flush=True)
    budget = args.minutes * 60.0
    cpu_budget = args.cpu_minutes * 60.0
    loop_start, cpu_start = time.monotonic(), time.process_time()
    last_ckpt = last_print = last_export = loop_start
    window_samples, window_start = 0, loop_start
    losses = None
    try:
        while (time.monotonic() - loop_start < budget and stop["signal"] is None
               and not (args.samples and samples >= args.samples)
               and not (cpu_budget and time.process_time() - cpu_start >= cpu_budget)):
            recon = recon_count(batch, args.recon_fraction, samples, args.recon_warmup)
            losses = step(*crops(gen, recon), recon=recon)
            opt.step()
            sched.step()
            it += 1
            samples += batch
            window_samples += batch
            now = time.monotonic()
            due_export = args.export_minutes > 0 and now - last_export > args.export_minutes * 60
            # Rates are taken over whole 10-iteration windows: a window of one
            # iteration right after a sync would under-report a GPU's speed.
            if it % 10 == 0 or due_export:
                # The one sync point: reading the losses. A non-finite loss means
                # the weights just stepped are bad, so nothing is exported after it.
                lc, ls = float(losses.content.detach()), float(losses.style.detach())
                if not (math.isfinite(lc) and math.isfinite(ls)):
                    raise NonFiniteLoss(f"non-finite loss at iteration {it} (content {lc}, style {ls})")
                rate = log_row(lc, ls, now, trained_s + now - loop_start, cpu_s + time.process_time() - cpu_start)
                if now - last_print > 30:
                    print(f"it {it} samples {samples} content {lc:.3f} style {ls:.3f} {rate:.1f} samples/s", flush=True)
                    last_print = now
                window_samples, window_start = 0, now
                if due_export:
                    export(trained_s + now - loop_start, cpu_s + time.process_time() - cpu_start)
                    last_export = now
            if args.checkpoint_minutes > 0 and now - last_ckpt > args.checkpoint_minutes * 60:
                checkpoint(trained_s + now - loop_start, cpu_s + time.process_time() - cpu_start)
                last_ckpt = now
        if stop["signal"]:
            print(f"{stop['signal']}: stopping at iteration {it}", flush=True)
        trained_s += time.monotonic() - loop_start
        cpu_s += time.process_time() - cpu_start
        # The last window's losses are checked before the final export.
        if losses is not None and not all(math.isfinite(float(v.detach())) for v in (losses.content, losses.style)):
            raise NonFiniteLoss(f"non-finite loss at iteration {it}")
        # Rows come every 10 iterations: without a closing row a short run (or the
        # tail of a long one) would leave no record of where it stopped.
        if losses is not None and logged["iteration"] != it:
            log_row(float(losses.content.detach()), float(losses.style.detach()), time.monotonic(), trained_s, cpu_s)
        if args.checkpoint_minutes > 0:
            checkpoint(trained_s, cpu_s)
        export(trained_s, cpu_s)
    finally:
        log_file.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return exported


if __name__ == "__main__":
    sys.exit(main())
