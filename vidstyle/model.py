"""The AdaIN networks: a frozen VGG-19 encoder up to relu4_1 and the trained decoder.

Weights live in ``weights/`` (shipped inside the package as ``vidstyle.weights``)
and are checked against ``weights/SHA256SUMS`` before use, so a damaged or
half-copied file is refused with a message instead of producing garbage.
Set ``VIDSTYLE_WEIGHTS`` to a folder to use other weight files.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open
from torch import nn
from torch.nn import functional as F

from .digest import file_sha256
from .errors import WeightsError

ENCODER_FILE = "vgg19_relu4_1.safetensors"
NORM_FILE = "vgg19_norm.safetensors"
DECODER_FILE = "decoder.safetensors"
SUMS_FILE = "SHA256SUMS"

# VGG-19 up to relu4_1: (name, in, out); a 2x2 max-pool follows conv1_2, conv2_2, conv3_4.
VGG_LAYERS = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256),
    ("conv4_1", 256, 512),
)
POOL_AFTER = {"conv1_2", "conv2_2", "conv3_4"}
TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# The Keras/Caffe VGG-19 was trained on BGR images in 0..255 minus this mean.
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


def weights_dir() -> Path:
    """The folder weight files are read from (``VIDSTYLE_WEIGHTS`` overrides the packaged one)."""
    env = os.environ.get("VIDSTYLE_WEIGHTS")
    if env:
        return Path(env)
    try:
        return Path(str(resources.files("vidstyle.weights")))
    except ModuleNotFoundError:
        # A plain copy of the source tree (the GPU job's machine): weights/ sits beside vidstyle/.
        source = Path(__file__).resolve().parents[1] / "weights"
        if source.is_dir():
            return source
        raise WeightsError(
            "the weights folder is missing: install vidstyle with pip, or set VIDSTYLE_WEIGHTS to a folder of weights"
        ) from None


def expected_sums(folder: Path) -> dict[str, str]:
    sums = folder / SUMS_FILE
    if not sums.is_file():
        raise WeightsError(f"{sums} is missing: reinstall vidstyle or restore the weights folder")
    out = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*")] = digest
    return out


def verified_path(name: str, folder: Path | None = None, *, what: str) -> Path:
    """Path of weight file ``name`` after checking its sha256; WeightsError otherwise."""
    folder = folder or weights_dir()
    path = folder / name
    if not path.is_file():
        raise WeightsError(f"{what} weights not found at {path}")
    digest = expected_sums(folder).get(name)
    if digest is None:
        raise WeightsError(f"{path} has no entry in {folder / SUMS_FILE}: add its sha256 there")
    actual = file_sha256(path)
    if actual != digest:
        raise WeightsError(
            f"{path} is damaged (sha256 {actual[:12]}… expected {digest[:12]}…): reinstall vidstyle or restore the file"
        )
    return path


def _load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {path}: {exc}") from None


class Encoder(nn.Module):
    """Frozen VGG-19 (ImageNet weights) to relu4_1, normalised per channel.

    Takes RGB in [0, 1]; converts to the BGR, mean-subtracted 0..255 input VGG
    was trained on. Tapped activations are divided by each channel's mean
    activation over a fixed image set (``scales``) — the "normalised VGG" of
    Gatys et al. that AdaIN uses, an exact re-parametrisation through the ReLUs
    that puts the per-layer style losses on one scale.

    Shape:
        input ``(B, 3, H, W)``; ``relu4_1`` is ``(B, 512, H/8, W/8)``.
    """

    def __init__(self, weights: dict[str, torch.Tensor], scales: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.convs = nn.ModuleDict({n: nn.Conv2d(i, o, 3, padding=1) for n, i, o in VGG_LAYERS})
        with torch.no_grad():
            for name, conv in self.convs.items():
                conv.weight.copy_(weights[f"{name}.weight"])
                conv.bias.copy_(weights[f"{name}.bias"])
        for tap in TAPS:
            c = self.convs["conv" + tap[4:]].out_channels
            s = scales[tap] if scales is not None else torch.ones(c)
            self.register_buffer(f"scale_{tap}", s.reshape(1, c, 1, 1).float().clone())
        mean = torch.tensor(VGG_MEAN_BGR).reshape(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean)
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        return rgb.flip(1) * 255.0 - self.mean_bgr.to(rgb.dtype)

    def forward(self, rgb: torch.Tensor, taps: tuple[str, ...] = ("relu4_1",)) -> list[torch.Tensor]:
        """Activations at ``taps`` (any of relu1_1, relu2_1, relu3_1, relu4_1), in that order."""
        last = max(TAPS.index(t) for t in taps)
        wanted = set(taps)
        x = self.preprocess(rgb)
        out = []
        for name, conv in self.convs.items():
            x = F.relu(conv(x))
            tap = "relu" + name[4:]
            if tap in wanted:
                out.append(x * getattr(self, f"scale_{tap}").to(x.dtype))
            if tap == TAPS[last]:
                break
            if name in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        return out

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """relu4_1 features ``(B, 512, H/8, W/8)`` of RGB ``(B, 3, H, W)`` in [0, 1]."""
        return self(rgb, ("relu4_1",))[0]


# Elements a tensor may hold for CUDA kernels that index with 32-bit integers.
INDEX_LIMIT = 2**31


def _decoder_layers() -> list[tuple[str, int, int, bool]]:
    # (name, in, out, upsample-after): the encoder mirrored, pools become 2x nearest upsampling.
    return [
        ("conv4_1", 512, 256, True),
        ("conv3_4", 256, 256, False), ("conv3_3", 256, 256, False), ("conv3_2", 256, 256, False),
        ("conv3_1", 256, 128, True),
        ("conv2_2", 128, 128, False),
        ("conv2_1", 128, 64, True),
        ("conv1_2", 64, 64, False),
        ("conv1_1", 64, 3, False),
    ]


class Decoder(nn.Module):
    """The AdaIN decoder: the encoder mirrored, nearest upsampling, reflection padding, no normalisation.

    Shape:
        input ``(B, 512, h, w)``; output ``(B, 3, 8h, 8w)``, RGB, roughly in [0, 1] (not clamped).
    """

    def __init__(self) -> None:
        super().__init__()
        self.layers = _decoder_layers()
        self.convs = nn.ModuleDict({n: nn.Conv2d(i, o, 3) for n, i, o, _ in self.layers})

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        # CUDA's reflection padding indexes with 32 bits: a batch whose largest
        # activation (64 channels at 8h x 8w) has 2**31 elements or more fails
        # (4K frames from a batch of 5), so such a batch is decoded in slices.
        per_frame = 64 * 64 * feats.shape[-2] * feats.shape[-1]
        most = max(1, (INDEX_LIMIT - 1) // per_frame)
        if feats.shape[0] > most:
            return torch.cat([self._decode(part) for part in feats.split(most)])
        return self._decode(feats)

    def _decode(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats
        last = self.layers[-1][0]
        for name, _, _, up in self.layers:
            # Reflection, not zeros: zero padding darkens the borders of every decoded frame.
            x = self.convs[name](F.pad(x, (1, 1, 1, 1), mode="reflect"))
            if name != last:
                x = F.relu(x)
            if up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x


def dequantize(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``name.weight_q`` uint8 indices + ``name.weight_table`` centroids -> ``name.weight`` float32."""
    out = {}
    for key, value in raw.items():
        if key.endswith(".weight_q"):
            name = key[: -len(".weight_q")]
            table = raw[f"{name}.weight_table"]
            out[f"{name}.weight"] = table[value.long()]
        elif key.endswith(".bias"):
            out[key] = value.float()
    return out


@lru_cache(maxsize=4)
def _encoder_tensors(folder: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, str]:
    path = verified_path(ENCODER_FILE, Path(folder), what="VGG-19 encoder")
    raw, _ = _load(path)
    weights = dequantize(raw)
    norm_path = Path(folder) / NORM_FILE
    scales = None
    ident = file_sha256(path)
    if norm_path.exists():
        norm_path = verified_path(NORM_FILE, Path(folder), what="encoder normalisation")
        scales, _ = _load(norm_path)
        ident = hashlib.sha256((ident + file_sha256(norm_path)).encode()).hexdigest()
    return weights, scales, ident[:16]


def load_encoder(folder: Path | None = None, *, normalised: bool = True) -> Encoder:
    """The frozen VGG-19 encoder, sha256-checked. ``normalised=False`` gives raw VGG activations."""
    weights, scales, _ = _encoder_tensors(str(folder or weights_dir()))
    return Encoder(weights, scales if normalised else None)


def encoder_id(folder: Path | None = None) -> str:
    """A short id of the encoder weights + normalisation; style files and decoders record it."""
    return _encoder_tensors(str(folder or weights_dir()))[2]


def load_decoder(folder: Path | None = None, path: Path | None = None) -> Decoder:
    """The trained decoder. Raises WeightsError, with what to do, if none is trained yet."""
    folder = folder or weights_dir()
    if path is None:
        if not (folder / DECODER_FILE).is_file():
            raise WeightsError(
                f"no trained decoder at {folder / DECODER_FILE}: vidstyle cannot stylize without one; "
                "train it with `python training/train.py` (see weights/README.md)"
            )
        path = verified_path(DECODER_FILE, folder, what="decoder")
    tensors, meta = _load(path)
    enc = meta.get("encoder_id")
    if enc is not None and enc != encoder_id(folder):
        raise WeightsError(f"{path} was trained for encoder {enc}, not the installed {encoder_id(folder)}: retrain it")
    dec = Decoder()
    try:
        dec.load_state_dict({k: v.float() for k, v in tensors.items()})
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not hold an AdaIN decoder: {str(exc).splitlines()[0]}") from None
    dec.requires_grad_(False)
    return dec.eval()
