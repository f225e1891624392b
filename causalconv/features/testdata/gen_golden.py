#!/usr/bin/python3
"""Writes golden.safetensors, the learned features that TestGoldenPyTorch checks.

The model is ../shared/bench/torch_wavenet.py's WaveNet (small, K=3, with bias, weights
from PyTorch's default initialisation widened 2.5x so every term shows). Its forward
pass is repeated here step by step to keep each layer's gate output z and the skip sum
(before the head's ReLU); frames are pooled in float64 straight from their definition:
frame t covers samples [first, first + window) with first = t*hop (snip-edges) or
t*hop + hop//2 - window//2 (centred), clipped to the sequence; frame counts are Kaldi's.

The file holds the state_dict() tensors, the model configuration under the "model"
metadata key (so modelfile.Load reads it), the cases under "cases" (JSON), and the extra
tensors golden/x (int64 classes) and golden/<case> (float32 [frames, dims]).

The safetensors Python package is not installed here, so the file is written by hand.

Run from the repository root:  /usr/bin/python3 causalconv/features/testdata/gen_golden.py
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, "/work/shared/bench")
from torch_wavenet import WaveNet  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

MODEL = {
    "quantization_channels": 32, "input_encoding": "onehot", "input_kernel_size": 1,
    "residual_channels": 6, "dilation_channels": 5, "skip_channels": 7, "end_channels": 8,
    "kernel_size": 3, "dilations": [1, 2, 4, 1],
    "bias": True, "residual_on_last_layer": False,
}
T, SEED, WIDEN = 600, 5, 2.5
# window 40 / hop 16 share a factor of 8 (block pooling in Go); 30 / 12 share 6
# (direct pooling).
CASES = [
    {"name": "skip_mean_snip", "layers": "skip", "pool": "mean", "window": 40, "hop": 16, "snip_edges": True},
    {"name": "zall_mean_centred", "layers": "z:all", "pool": "mean", "window": 40, "hop": 16, "snip_edges": False},
    {"name": "skip_z1_max_snip", "layers": "skip,z:1", "pool": "max", "window": 30, "hop": 12, "snip_edges": True},
    {"name": "z3_skip_mean_centred", "layers": "z:3,skip", "pool": "mean", "window": 30, "hop": 12, "snip_edges": False},
]


def activations(model, x):
    """x: (T,) int64 -> list of z (D, T) per layer and the skip sum (S, T), float32."""
    m = model.m
    h = model.embed(x[None])
    D = m["dilation_channels"]
    zs = []
    for i, d in enumerate(model.dilations):
        fg = model.filter_gate[i](F.pad(h, ((model.K - 1) * d, 0)))
        z = torch.tanh(fg[:, :D]) * torch.sigmoid(fg[:, D:])
        zs.append(z)
        if i < model.n_res:
            h = h + model.residual[i](z)
    w, b = model.fused_skip_weights()
    skip = F.conv1d(torch.cat(zs, dim=1), w, b)
    return [z[0].numpy() for z in zs], skip[0].numpy()


def num_frames(n, window, hop, snip):
    if snip:
        return 0 if n < window else 1 + (n - window) // hop
    return (n + hop // 2) // hop


def pool(rows, n, window, hop, snip, how):
    out = []
    for t in range(num_frames(n, window, hop, snip)):
        first = t * hop if snip else t * hop + hop // 2 - window // 2
        seg = rows[:, max(0, first):min(n, first + window)].astype(np.float64)
        out.append(seg.mean(axis=1) if how == "mean" else seg.max(axis=1))
    return np.array(out)


def features(zs, skip, case):
    blocks = []
    for term in case["layers"].replace("z:all", ",".join(f"z:{i}" for i in range(len(zs)))).split(","):
        rows = skip if term == "skip" else zs[int(term[2:])]
        blocks.append(pool(rows, T, case["window"], case["hop"], case["snip_edges"], case["pool"]))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, numpy array) in file order."""
    dtypes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, a in tensors:
        data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.set_num_threads(1)  # reproducible reductions
    torch.manual_seed(SEED)
    model = WaveNet(MODEL)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(WIDEN)
        x = torch.randint(0, MODEL["quantization_channels"], (T,), generator=torch.Generator().manual_seed(SEED))
        zs, skip = activations(model, x)
    tensors = [(k, v.numpy()) for k, v in model.state_dict().items()]
    tensors.append(("golden/x", x.numpy()))
    for case in CASES:
        f = features(zs, skip, case)
        tensors.append(("golden/" + case["name"], f))
        print(f"{case['name']}: {f.shape[0]} frames x {f.shape[1]} dims, |max| {np.abs(f).max():.3f}")
    path = os.path.join(HERE, "golden.safetensors")
    write_safetensors(path, tensors, {
        "model": json.dumps(MODEL), "cases": json.dumps(CASES),
        "generator": "gen_golden.py, torch " + torch.__version__,
    })
    print(path)


if __name__ == "__main__":
    main()
