"""Evaluate a decoder on the fixed validation pairs: mean content and style loss, and a contact sheet.

    python training/evaluate.py                           # the shipped weights/decoder.safetensors
    python training/evaluate.py --decoder runs/x/decoder.safetensors
    python training/evaluate.py --untrained               # a randomly initialised decoder, for scale

Each pair is resized to --size on its shorter side and centre-cropped square,
then stylized at alpha 1; losses are the training objective's (objective.py).
The sheet shows content | style | result for the first 8 pairs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from objective import adain_losses  # noqa: E402
from vidstyle.imageio import Image, read_image, resize, resize_short, write_image  # noqa: E402
from vidstyle.model import Decoder, load_decoder, load_encoder  # noqa: E402


def square(path: Path, size: int) -> torch.Tensor:
    x = resize_short(read_image(path).rgb, size)
    h, w = x.shape[-2:]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0 : y0 + size, x0 : x0 + size]


def contact_sheet(rows: list[tuple[torch.Tensor, ...]], tile: int) -> torch.Tensor:
    """Tile rows of images into one ``(1, 3, rows*tile, cols*tile)`` picture."""
    lines = [torch.cat([resize(t.clamp(0, 1), (tile, tile)) for t in row], dim=-1) for row in rows]
    return torch.cat(lines, dim=-2)


@torch.no_grad()
def evaluate(data: Path, decoder: Decoder, size: int = 256, sheet: Path | None = None, tile: int = 150) -> dict[str, float]:
    pairs = json.loads((data / "val_pairs.json").read_text())
    encoder = load_encoder()
    decoder = decoder.eval()
    total_c = total_s = 0.0
    rows = []
    for pair in pairs:
        c, s = square(data / pair["content"], size), square(data / pair["style"], size)
        losses = adain_losses(encoder, decoder, c, s)
        total_c += float(losses.content)
        total_s += float(losses.style)
        if len(rows) < 8:
            rows.append((c, s, losses.output))
    if sheet is not None:
        write_image(sheet, Image(contact_sheet(rows, tile)), overwrite=True)
    n = len(pairs)
    return {"pairs": n, "content_loss": total_c / n, "style_loss": total_s / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="validation losses and contact sheet of a decoder")
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--decoder", type=Path, default=None, help="decoder file (default: the shipped one)")
    ap.add_argument("--untrained", action="store_true", help="evaluate a random decoder (seed 0) instead")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--sheet", type=Path, default=None, help="write the contact sheet PNG here")
    args = ap.parse_args(argv)
    if args.untrained:
        torch.manual_seed(0)
        decoder = Decoder()
    else:
        decoder = load_decoder(path=args.decoder) if args.decoder else load_decoder()
    result = evaluate(args.data, decoder, args.size, args.sheet)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
