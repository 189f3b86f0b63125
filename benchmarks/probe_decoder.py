"""Why the decoder was slower than the encoder on CUDA: layout, padding mode, torch.compile.

    python benchmarks/probe_decoder.py          # CUDA only; about 30 s on an H200

1080p random frames, bf16 autocast, batch 4 (then 8 for the compiled
networks); prints milliseconds per frame for the encoder and for the decoder
with reflection (the model's), replication and zero padding, in the plain and
the channels_last layout, and with torch.compile. Results: benchmarks/RESULTS.md
(GPU section) and benchmarks/results/h200-2026-11-27/probe_decoder.txt.
"""
import sys, time, json
from pathlib import Path
import torch
from torch.nn import functional as F
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vidstyle.model import load_decoder, load_encoder

dev = torch.device("cuda")
torch.backends.cudnn.benchmark = True
enc = load_encoder().to(dev)
dec = load_decoder().to(dev)

def timeit(fn, x, n=10):
    for _ in range(3):
        fn(x)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n):
        fn(x)
    torch.cuda.synchronize(); return (time.perf_counter() - t) / n * 1000

def dec_pad(mode):
    def f(feats):
        x = feats
        for name, _, _, up in dec.layers:
            conv = dec.convs[name]
            if mode == "zeros":
                x = F.conv2d(x, conv.weight, conv.bias, padding=1)
            else:
                x = conv(F.pad(x, (1, 1, 1, 1), mode=mode))
            if name != dec.layers[-1][0]:
                x = F.relu(x)
            if up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x
    return f

res = {}
for layout in ("nchw", "cl"):
    mf = torch.channels_last if layout == "cl" else torch.contiguous_format
    enc.to(memory_format=mf); dec.to(memory_format=mf)
    x = torch.rand(4, 3, 1080, 1920, device=dev).contiguous(memory_format=mf)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        f = enc.encode(x).contiguous(memory_format=mf)
        res[f"{layout} encoder"] = timeit(enc.encode, x)
        for mode in ("reflect", "replicate", "zeros"):
            res[f"{layout} decoder pad={mode}"] = timeit(dec_pad(mode), f)
    print(json.dumps({k: round(v / 4, 2) for k, v in res.items()}), flush=True)
try:
    enc.to(memory_format=torch.channels_last); dec.to(memory_format=torch.channels_last)
    cdec = torch.compile(dec_pad("reflect"))
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        t = time.perf_counter(); cdec(f); torch.cuda.synchronize(); print("compile s", round(time.perf_counter() - t, 1), flush=True)
        res["cl decoder reflect compiled"] = timeit(cdec, f)
except Exception as e:
    print("compile failed", repr(e)[:300])
print("ms per 1080p frame (batch 4):", json.dumps({k: round(v / 4, 2) for k, v in res.items()}))
cenc = torch.compile(enc.encode)
with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
    for b in (4, 8):
        x = torch.rand(b, 3, 1080, 1920, device=dev).contiguous(memory_format=torch.channels_last)
        res[f"cl encoder compiled b{b}"] = timeit(cenc, x) * 4 / b
        f = cenc(x)
        res[f"cl decoder compiled b{b}"] = timeit(cdec, f) * 4 / b
print("ms per 1080p frame:", json.dumps({k: round(v / 4, 2) for k, v in res.items()}))
