"""Where the networks run on frames: torch float32 (the reference), torch bf16 (AMX), or ONNX Runtime int8.

A backend does two things, on float tensors: ``encode`` RGB ``(B, 3, H, W)``
in [0, 1] to normalised relu4_1 features, and ``decode`` features back to RGB
(not clamped). Everything between (AdaIN, masks, colour, resizing) stays in
torch in :class:`vidstyle.stylize.Stylizer`, the same on every backend, and
style statistics are always taken by the torch encoder in float32.

The backends (:data:`BACKENDS`), all within the quality gate of
``tests/test_backends.py`` (PSNR >= 38 dB against float32 torch, structure
score within 3%):

- ``"torch"``: the reference; float32 on the CPU, bf16 autocast on CUDA (as always);
- ``"bf16"``: torch with bf16 autocast, channels_last on the CPU; 5-10x float32
  where the CPU has AMX (``benchmarks/RESULTS.md``), slow where bf16 is emulated;
- ``"onnx"``: int8 on ONNX Runtime (CPU only), the fast path of CPUs without
  AMX (AVX-512 VNNI or AVX2 laptops), from the files shipped in ``weights/``;
- ``"auto"``: the fastest of these for this machine (:func:`auto_backend`).
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Protocol

import torch

from ..errors import SettingsError, VidstyleError
from ..model import Decoder, Encoder
from ..settings import BACKENDS

__all__ = ["BACKENDS", "Backend", "TorchBackend", "load_backend", "auto_backend", "cpu_has_amx"]

class Backend(Protocol):
    name: str

    def encode(self, rgb: torch.Tensor) -> torch.Tensor: ...

    def decode(self, feats: torch.Tensor) -> torch.Tensor: ...


@lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles with bf16 (Sapphire Rapids and later), where bf16 convolutions are fast.

    Not ``torch.backends.mkldnn``'s bf16 check: that is also true on plain
    AVX-512, where oneDNN emulates bf16 and it is slower than float32.
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return {"amx_bf16", "amx_tile"} <= set(line.split())
    except OSError:
        pass
    return False


class TorchBackend:
    """The torch networks; float32 on the CPU unless ``bf16``; bf16 autocast on CUDA.

    On CUDA the encoder runs channels_last and the decoder in the plain layout
    (measured on an H200, benchmarks/RESULTS.md: reflection padding is 2.2x
    faster in the plain layout). bf16 on the CPU runs both channels_last, the
    layout oneDNN's AMX kernels take without reordering: the encoder under
    autocast, the decoder as a bf16 copy of itself.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, device: torch.device, *, bf16: bool = False) -> None:
        self.encoder, self.decoder, self.device = encoder, decoder, device
        self.bf16 = bf16 or device.type == "cuda"
        self.name = "torch-bf16" if self.bf16 else "torch-fp32"
        if device.type == "cuda":
            self.encoder.to(memory_format=torch.channels_last)
        elif self.bf16:
            # A copy: the caller's encoder also takes style statistics, in float32 and the plain
            # layout, and they must not depend on the backend (a .style file equals its image).
            self.encoder = copy.deepcopy(encoder).to(memory_format=torch.channels_last)
            # The decoder's own bf16 copy, run without autocast: autocast casts
            # every weight to bf16 on every call, which took a third of the
            # decoder's time (1.45x faster at 256x192, 1.9x at 512x288; the
            # same bits, as autocast computes each convolution in bf16 too).
            self.decoder = copy.deepcopy(decoder).to(torch.bfloat16).to(memory_format=torch.channels_last)
        self._layout = torch.channels_last if self.bf16 else torch.contiguous_format
        self._bf16_decoder = self.bf16 and device.type == "cpu"

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @torch.no_grad()
    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """Normalised relu4_1 ``(B, 512, H/8, W/8)`` of RGB ``(B, 3, H, W)`` in [0, 1]."""
        with self._autocast():
            return self.encoder.encode(rgb.contiguous(memory_format=self._layout))

    @torch.no_grad()
    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """RGB ``(B, 3, 8h, 8w)`` (not clamped) of features ``(B, 512, h, w)``."""
        if self._bf16_decoder:
            return self.decoder(feats.to(torch.bfloat16).contiguous(memory_format=torch.channels_last))
        layout = self._layout if self.device.type == "cpu" else torch.contiguous_format
        with self._autocast():
            return self.decoder(feats.contiguous(memory_format=layout))


def auto_backend(device: torch.device) -> str:
    """The backend ``"auto"`` stands for: torch on CUDA; on the CPU bf16 with AMX, else onnx.

    Measured on this project's CPU (``benchmarks/RESULTS.md``, bench_backends):
    with AMX, bf16 autocast is the fastest path that passes the gate; without
    it, int8 on ONNX Runtime (VNNI or AVX2) is.
    """
    if device.type != "cpu":
        return "torch"
    return "bf16" if cpu_has_amx() else "onnx"


def load_backend(name: str, device: torch.device, encoder: Encoder, decoder: Decoder) -> tuple[Backend, list[str]]:
    """The backend ``name`` (see :data:`BACKENDS`) for ``device``, and warnings for the user.

    Raises:
        SettingsError: an unknown name, onnx on CUDA, or onnx without onnxruntime.
        WeightsError: onnx asked for and its int8 files are missing, damaged or stale.
    """
    if name not in BACKENDS:
        raise SettingsError(f"unknown backend {name!r}: use {', '.join(BACKENDS)}", settings="backend")
    if name == "onnx" and device.type != "cpu":
        raise SettingsError("--backend onnx runs on the CPU: add --device cpu, or use --backend torch on a GPU",
                            settings=("backend", "device"))
    chosen = auto_backend(device) if name == "auto" else name
    if chosen != "onnx":
        return TorchBackend(encoder, decoder, device, bf16=chosen == "bf16"), []
    from .ort import OrtBackend, has_int8

    try:
        return OrtBackend(), []
    except VidstyleError as exc:
        if name == "onnx":
            raise
        if not has_int8():
            # A weights folder of one's own (VIDSTYLE_WEIGHTS) without int8 files: the float model, as asked.
            return TorchBackend(encoder, decoder, device), []
        # auto: torch renders the reference pictures, only slower; say why.
        return TorchBackend(encoder, decoder, device), [f"the int8 CPU model is not used (torch instead): {exc}"]
