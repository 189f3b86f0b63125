"""The decoder trainer and the evaluation command, at tiny sizes."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

import evaluate  # noqa: E402
import objective  # noqa: E402
import train  # noqa: E402
from vidstyle.model import Decoder, load_decoder, load_encoder  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny_set(tmp_path) -> Path:
    root = tmp_path / "data"
    for sub in ("content", "style", "val"):
        (root / sub).mkdir(parents=True)
    shutil.copy(DATA / "chelsea.jpg", root / "content" / "a.jpg")
    shutil.copy(DATA / "coffee.jpg", root / "style" / "b.jpg")
    shutil.copy(DATA / "chelsea.jpg", root / "val" / "c.jpg")
    shutil.copy(DATA / "coffee.jpg", root / "val" / "s.jpg")
    pairs = [{"content": "val/c.jpg", "style": "val/s.jpg"}, {"content": "val/s.jpg", "style": "val/c.jpg"}]
    (root / "val_pairs.json").write_text(json.dumps(pairs))
    return root


def test_training_steps_lower_the_loss():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    content, style = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    enc, dec = load_encoder(), Decoder()
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3)
    first = None
    for _ in range(5):
        loss = objective.adain_losses(enc, dec, content, style).total()
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = float(objective.adain_losses(enc, dec, content, style).total().detach())
    assert final < first


def test_random_crops_are_square_flipped_and_in_range():
    img = torch.arange(3 * 20 * 30, dtype=torch.float32).reshape(3, 20, 30).remainder(256).to(torch.uint8)
    crops = train.random_crops([img], 6, 16, torch.Generator().manual_seed(1))
    assert crops.shape == (6, 3, 16, 16)
    assert 0.0 <= float(crops.min()) and float(crops.max()) <= 1.0


def test_minutes_budget_stops_and_writes_a_loadable_decoder(tiny_set, tmp_path):
    out = tmp_path / "w" / "decoder.safetensors"
    run_dir = tmp_path / "run"
    rc = train.main(["--data", str(tiny_set), "--minutes", "0.03", "--crop", "32", "--batch", "2",
                     "--run-dir", str(run_dir), "--out", str(out), "--threads", "1"])
    assert rc == 0
    dec = load_decoder(path=out)
    assert next(dec.parameters()).dtype == torch.float32
    assert (run_dir / "checkpoint.pt").exists()
    with open(run_dir / "loss_log.csv") as f:
        header = next(csv.reader(f))
    assert header[:5] == ["iteration", "samples", "seconds", "loss_content", "loss_style"]
    sums = (out.parent / "SHA256SUMS").read_text()
    assert "decoder.safetensors" in sums
    # Resuming continues the iteration count instead of starting over.
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    rc = train.main(["--data", str(tiny_set), "--minutes", "0.03", "--crop", "32", "--batch", "2",
                     "--run-dir", str(run_dir), "--out", str(out), "--threads", "1", "--resume"])
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["iteration"] > ck["iteration"]


def test_evaluate_runs_on_two_tiny_pairs(tiny_set, tmp_path, capsys):
    torch.manual_seed(0)
    dec_path = tmp_path / "decoder.safetensors"
    train.write_decoder(Decoder(), dec_path, {})
    sheet = tmp_path / "sheet.png"
    assert evaluate.main(["--data", str(tiny_set), "--decoder", str(dec_path), "--size", "32", "--sheet", str(sheet)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["pairs"] == 2
    assert result["content_loss"] > 0 and result["style_loss"] > 0
    assert sheet.stat().st_size > 0
