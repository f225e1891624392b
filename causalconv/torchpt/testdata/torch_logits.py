#!/usr/bin/python3
"""Used by torchpt's TestTorchLoadsOurs: loads a .pt file written by nextsample the way a
PyTorch user would (torch.load with weights_only=True where torch has it, then a strict
load_state_dict into the reference WaveNet) and writes the logits of the given classes.

Usage: torch_logits.py MODEL.pt CONFIG_JSON CLASSES(comma-separated) OUT.f32
"""
import json
import os
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "train", "recipe"))
from wavenet_reference import WaveNet  # noqa: E402


def main():
    path, cfg, classes, out = sys.argv[1:5]
    torch.set_num_threads(1)
    sd = torch.load(path, weights_only=True)
    plain = torch.load(path)  # torch >= 1.6 without weights_only reads it too
    assert list(plain.keys()) == list(sd.keys())
    model = WaveNet(json.loads(cfg))
    model.load_state_dict(sd, strict=True)
    x = torch.tensor([int(c) for c in classes.split(",")], dtype=torch.long)
    with torch.no_grad():
        logits = model(x[None])[0].contiguous()  # (Q, T)
    with open(out, "wb") as f:
        f.write(logits.numpy().astype("<f4").tobytes())


if __name__ == "__main__":
    main()
