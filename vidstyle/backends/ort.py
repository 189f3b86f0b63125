"""The CPU backend: the encoder and decoder in int8 on ONNX Runtime.

The two files (``weights/encoder_int8.onnx``, ``weights/decoder_int8.onnx``)
ship with the package and are checked like every weight file; ``weights/int8.json``
records the sha256 of the float weights they were made from (by
``training/make_int8.py``), and they are refused when those are not the
installed weights: an int8 decoder made from an older ``decoder.safetensors``
would quietly render the old model. AdaIN, colour and resizing stay in torch.

``onnxruntime`` is imported when a backend is made, never by ``import vidstyle``.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..errors import SettingsError, WeightsError
from ..model import expected_sums, verified_path, weights_dir

ENCODER_INT8 = "encoder_int8.onnx"
DECODER_INT8 = "decoder_int8.onnx"
MANIFEST = "int8.json"
# The float weights the int8 files are made from.
SOURCES = ("vgg19_relu4_1.safetensors", "vgg19_norm.safetensors", "decoder.safetensors")
# Sessions kept per network: one per working size (and batch) seen lately.
SESSIONS_KEPT = 4
REMAKE = "re-make them with `python training/make_int8.py` (see weights/README.md)"


def source_sums(folder: Path) -> dict[str, str]:
    """sha256 of the float weight files in ``folder``, as its SHA256SUMS lists them."""
    sums = expected_sums(folder)
    return {name: sums[name] for name in SOURCES if name in sums}


def check_int8(folder: Path | None = None) -> dict:
    """The int8 manifest of ``folder`` after checking it was made from the weights there.

    Raises:
        WeightsError: the files are missing, damaged, or made from other weights.
    """
    folder = folder or weights_dir()
    path = folder / MANIFEST
    if not path.is_file():
        raise WeightsError(f"no int8 model in {folder} ({MANIFEST} is missing): {REMAKE}")
    try:
        manifest = json.loads(path.read_text())
        made_from = manifest["made_from"]
    except (ValueError, KeyError):
        raise WeightsError(f"{path} is not an int8 manifest: {REMAKE}") from None
    installed = source_sums(folder)
    stale = [name for name in SOURCES if made_from.get(name) != installed.get(name)]
    if stale:
        raise WeightsError(
            f"the int8 files in {folder} were made from another {' and '.join(stale)} "
            f"(sha256 {made_from.get(stale[0], 'none')[:12]}…, installed {installed.get(stale[0], 'none')[:12]}…): {REMAKE}"
        )
    return manifest


def has_int8(folder: Path | None = None) -> bool:
    """Whether ``folder`` (default: the installed weights) holds int8 files at all, current or not."""
    return ((folder or weights_dir()) / MANIFEST).is_file()


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise SettingsError(
            "the onnx backend needs ONNX Runtime: `pip install onnxruntime`, or use --backend torch",
            settings="backend",
        ) from None
    return onnxruntime


class OrtBackend:
    """Encoder and decoder on ONNX Runtime's CPU provider, int8; one session per input shape.

    Args:
        folder: weights folder (default: the installed one, or ``VIDSTYLE_WEIGHTS``).
        threads: intra-op threads (default: torch's, so ``--threads`` and
            ``torch.set_num_threads`` govern both).

    Raises:
        SettingsError: onnxruntime is not installed.
        WeightsError: the int8 files are missing, damaged or stale.
    """

    name = "onnx-int8"

    def __init__(self, folder: Path | None = None, threads: int | None = None) -> None:
        self._ort = _import_ort()
        folder = folder or weights_dir()
        check_int8(folder)
        self._paths = {
            "encoder": str(verified_path(ENCODER_INT8, folder, what="int8 encoder")),
            "decoder": str(verified_path(DECODER_INT8, folder, what="int8 decoder")),
        }
        self.threads = threads or torch.get_num_threads()
        self._sessions: OrderedDict[tuple, object] = OrderedDict()

    def _session(self, part: str, shape: tuple[int, ...]):
        key = (part, shape)
        session = self._sessions.get(key)
        if session is not None:
            self._sessions.move_to_end(key)
            return session
        ort = self._ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Fixed shapes let the optimiser plan every buffer once for this size.
        b, _, h, w = shape
        dims = {"batch": b, "fh": h, "fw": w, "height": h, "width": w}
        dims.update({"fh": h // 8, "fw": w // 8} if part == "encoder" else {"height": h * 8, "width": w * 8})
        for name, value in dims.items():
            opts.add_free_dimension_override_by_name(name, value)
        session = ort.InferenceSession(self._paths[part], opts, providers=["CPUExecutionProvider"])
        self._sessions[key] = session
        if len(self._sessions) > 2 * SESSIONS_KEPT:
            self._sessions.popitem(last=False)
        return session

    def _run(self, part: str, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        session = self._session(part, tuple(arr.shape))
        return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: arr})[0])

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """Normalised relu4_1 ``(B, 512, H/8, W/8)`` of RGB ``(B, 3, H, W)`` in [0, 1]."""
        return self._run("encoder", rgb)

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """RGB ``(B, 3, 8h, 8w)`` (not clamped) of features ``(B, 512, h, w)``."""
        return self._run("decoder", feats)
