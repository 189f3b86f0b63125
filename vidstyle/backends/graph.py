"""The encoder and decoder as ONNX graphs, written from their weights (needs the ``onnx`` package).

Used only to *make* the ONNX Runtime files (``training/make_int8.py``) and by
the benchmarks; running them needs only ``onnxruntime``. The graphs are
written node by node from the same layer tables as :mod:`vidstyle.model`
rather than traced, so they do not depend on torch's exporter, and each node
is named after its layer (``enc.conv3_1``, ``dec.conv3_1.pad``...), the names
the int8 recipe uses to keep a layer in float.

``eq_*`` arguments are per-channel equalisation factors (see
``training/make_int8.py``): activations of a layer are divided by them and the
next layer's weights multiplied, which through ReLU, max-pooling, nearest
upsampling and reflection padding is exact in float; it only changes how
evenly the channels share a tensor's int8 range.

Shape:
    encoder: ``rgb`` ``(B, 3, H, W)`` RGB in [0, 1] -> ``feats`` ``(B, 512, H/8, W/8)`` (normalised relu4_1);
    decoder: ``feats`` ``(B, 512, h, w)`` -> ``rgb`` ``(B, 3, 8h, 8w)`` (not clamped).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..model import POOL_AFTER, VGG_LAYERS, VGG_MEAN_BGR, Decoder, Encoder, _decoder_layers

OPSET = 17
ENCODER_INPUT, ENCODER_OUTPUT = "rgb", "feats"
DECODER_INPUT, DECODER_OUTPUT = "feats", "rgb"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().astype(np.float32)


class _Graph:
    """Collects nodes and initialisers; one tensor name per value."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        full = f"{self.prefix}.{name}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), full))
        return full

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        from onnx import helper

        out = f"{self.prefix}.{name}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def model(self, inp: str, in_shape: list, out: str, out_name: str, out_shape: list, doc: str):
        from onnx import TensorProto, helper

        self.nodes.append(helper.make_node("Identity", [out], [out_name], name=f"{self.prefix}.output"))
        graph = helper.make_graph(
            self.nodes, f"vidstyle_{self.prefix}",
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="vidstyle")
        model.ir_version = 8
        model.doc_string = doc
        return model


def encoder_graph(encoder: Encoder, eq: Mapping[str, torch.Tensor] | None = None):
    """The encoder to relu4_1 as an ONNX model (preprocessing and normalisation included).

    ``eq[name]``, shape ``(C_out,)``: factors that layer ``name``'s output is divided by.
    """
    eq = dict(eq or {})
    g = _Graph("enc")
    # RGB in [0, 1] -> the BGR, mean-subtracted 0..255 VGG input. The channel
    # flip is folded into conv1_1's weights (exact); the rest stays explicit,
    # because conv1_1 zero-pads the *preprocessed* image.
    mean_rgb = np.array(VGG_MEAN_BGR[::-1], np.float32).reshape(1, 3, 1, 1)
    x = g.node("Mul", [ENCODER_INPUT, g.const("k255", np.array(255.0, np.float32))], "scale255")
    x = g.node("Sub", [x, g.const("mean", mean_rgb)], "preprocess")
    prev_eq = None
    for name, _, c_out in VGG_LAYERS:
        conv = encoder.convs[name]
        w, b = conv.weight.detach().clone(), conv.bias.detach().clone()
        if name == "conv1_1":
            w = w.flip(1)
        if prev_eq is not None:
            w = w * prev_eq[None, :, None, None]
        s = eq.get(name)
        if s is not None:
            w, b = w / s[:, None, None, None], b / s
        x = g.node("Conv", [x, g.const(f"{name}.weight", _np(w)), g.const(f"{name}.bias", _np(b))], name,
                   kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        x = g.node("Relu", [x], f"{name}.relu")
        prev_eq = s
        if name in POOL_AFTER:
            x = g.node("MaxPool", [x], f"{name}.pool", kernel_shape=[2, 2], strides=[2, 2])
    scale = encoder.scale_relu4_1.detach().reshape(-1).clone()
    if prev_eq is not None:
        scale = scale * prev_eq
    x = g.node("Mul", [x, g.const("relu4_1.scale", _np(scale.reshape(1, -1, 1, 1)))], "normalise")
    return g.model(ENCODER_INPUT, ["batch", 3, "height", "width"], x, ENCODER_OUTPUT,
                   ["batch", 512, "fh", "fw"], "vidstyle VGG-19 encoder to normalised relu4_1")


def decoder_graph(decoder: Decoder, eq: Mapping[str, torch.Tensor] | None = None):
    """The decoder as an ONNX model: reflection pad, conv, ReLU, nearest 2x upsampling.

    ``eq["input"]`` divides the input features per channel (undone in the first
    conv's weights); ``eq[name]`` divides layer ``name``'s output.
    """
    eq = dict(eq or {})
    g = _Graph("dec")
    layers = _decoder_layers()
    x = DECODER_INPUT
    prev_eq = eq.get("input")
    if prev_eq is not None:
        x = g.node("Mul", [x, g.const("input.eq.inverse", _np((1 / prev_eq).reshape(1, -1, 1, 1)))], "input.eq")
    pads = g.const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    scales = g.const("up.scales", np.array([1, 1, 2, 2], np.float32))
    last = layers[-1][0]
    for name, _, _, up in layers:
        conv = decoder.convs[name]
        w, b = conv.weight.detach().clone(), conv.bias.detach().clone()
        if prev_eq is not None:
            w = w * prev_eq[None, :, None, None]
        s = eq.get(name) if name != last else None
        if s is not None:
            w, b = w / s[:, None, None, None], b / s
        x = g.node("Pad", [x, pads], f"{name}.pad", mode="reflect")
        x = g.node("Conv", [x, g.const(f"{name}.weight", _np(w)), g.const(f"{name}.bias", _np(b))], name,
                   kernel_shape=[3, 3])
        if name != last:
            x = g.node("Relu", [x], f"{name}.relu")
        if up:
            x = g.node("Resize", [x, "", scales], f"{name}.up", mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        prev_eq = s
    return g.model(DECODER_INPUT, ["batch", 512, "fh", "fw"], x, DECODER_OUTPUT,
                   ["batch", 3, "height", "width"], "vidstyle AdaIN decoder")
