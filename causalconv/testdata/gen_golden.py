#!/usr/bin/python3
"""Writes the golden files that causalconv's tests compare against the PyTorch reference.

Each golden_<name>.safetensors holds a WaveNet from ../shared/bench/torch_wavenet.py with
random weights (PyTorch's default initialisation from a fixed seed, widened 2.5x, plus
random input biases), in the format modelfile.Load reads: the state_dict() tensors under their own
names, the model's configuration as JSON under the "model" metadata key, and three extra
tensors: golden/x (int64 [T+1] classes; inputs x[:-1], targets x[1:]), golden/logits
(float32 [Q, T], the module's output) and golden/loss (float64 scalar,
F.cross_entropy's mean over the T positions).

The safetensors Python package is not installed here, so the file is written by hand
(8-byte little-endian header length, JSON header padded with spaces, raw data).

Run from the repository root:  /usr/bin/python3 causalconv/testdata/gen_golden.py
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, "/work/shared/bench")
from torch_wavenet import WaveNet  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

SKIP256 = {
    "quantization_channels": 256, "input_encoding": "onehot", "input_kernel_size": 1,
    "residual_channels": 32, "dilation_channels": 32, "skip_channels": 256, "end_channels": 256,
    "kernel_size": 2, "dilations": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] * 2,
    "bias": True, "residual_on_last_layer": False,
}
K3_NOBIAS = {
    "quantization_channels": 64, "input_encoding": "onehot", "input_kernel_size": 2,
    "residual_channels": 8, "dilation_channels": 12, "skip_channels": 16, "end_channels": 24,
    "kernel_size": 3, "dilations": [1, 2, 4, 8, 1],
    "bias": False, "residual_on_last_layer": False,
}
EMBED = {
    "quantization_channels": 32, "input_encoding": "embedding", "input_kernel_size": 1,
    "residual_channels": 6, "dilation_channels": 5, "skip_channels": 10, "end_channels": 7,
    "kernel_size": 2, "dilations": [1, 3, 9, 2],
    "bias": True, "residual_on_last_layer": True,
}
CASES = [("skip256", SKIP256, 300, 1234), ("k3_nobias", K3_NOBIAS, 200, 7), ("embedding", EMBED, 150, 99)]

WIDEN = 2.5

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order."""
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
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
    # One thread: with more, the convolutions' reductions may run in a different
    # order from run to run, and the logits' last bits with them.
    torch.set_num_threads(1)
    for name, m, T, seed in CASES:
        torch.manual_seed(seed)
        model = WaveNet(m)
        with torch.no_grad():
            if m["input_encoding"] == "embedding" and m["bias"]:
                model.input_bias.normal_()          # starts at zero; make it matter
            # PyTorch's default initialisation gives logits of a few hundredths, too
            # small for an absolute tolerance to mean much; widen every tensor so
            # the logits are of order one and every term shows.
            for p in model.parameters():
                p.mul_(WIDEN)
        g = torch.Generator().manual_seed(seed)
        x = torch.randint(0, m["quantization_channels"], (T + 1,), generator=g)
        with torch.no_grad():
            logits = model(x[None, :-1])[0]         # (Q, T)
            loss = F.cross_entropy(logits.t(), x[1:]).double()
        tensors = list(model.state_dict().items())
        tensors += [("golden/x", x), ("golden/logits", logits), ("golden/loss", loss)]
        path = os.path.join(HERE, f"golden_{name}.safetensors")
        write_safetensors(path, tensors, {"model": json.dumps(m), "generator": "gen_golden.py, torch " + torch.__version__})
        print(f"{path}: T={T} loss={loss.item():.6f} |logits|max={logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
