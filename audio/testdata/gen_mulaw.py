#!/usr/bin/python3
"""Golden μ-law values from the PyTorch reference (mu_law_encode/decode in
../shared/bench/torch_wavenet.py, copied here verbatim so the file can be
regenerated without it). Run: /usr/bin/python3 audio/testdata/gen_mulaw.py
"""
import json
import math
import os

import torch


def mu_law_encode(x, q):
    mu = q - 1
    y = torch.sign(x) * torch.log1p(mu * torch.abs(x)) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).long().clamp_(0, mu)


def mu_law_decode(c, q):
    mu = q - 1
    y = 2 * c.float() / mu - 1
    return torch.sign(y) * ((1 + mu) ** torch.abs(y) - 1) / mu


gen = torch.Generator().manual_seed(1)
out = {}
for q in (256, 16):
    x = torch.rand(1500, generator=gen) * 2 - 1
    x[:500] = x[:500] ** 5  # many small values, where μ-law is finest
    edges = torch.tensor([0.0, -0.0, 1.0, -1.0, 1.5, -3.0, 1e-8, -1e-8, 0.5, -0.5], dtype=torch.float32)
    x = torch.cat([edges, x])
    c = torch.arange(q)
    out[str(q)] = {
        "x": [float(v) for v in x],
        "classes": [int(v) for v in mu_law_encode(x, q)],
        "centres": [float(v) for v in mu_law_decode(c, q)],
    }
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mulaw_torch.json"), "w") as f:
    json.dump(out, f)
