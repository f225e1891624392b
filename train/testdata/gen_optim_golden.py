#!/usr/bin/python3
"""Writes optim_golden.json: parameters after each of 6 steps of torch.optim.SGD
and torch.optim.Adam on a fixed sequence of gradients, for train/optim_test.go.

Run from the repository root:  /usr/bin/python3 train/testdata/gen_optim_golden.py
(torch 1.13; the file is committed, so the tests never need torch.)
"""
import json
import os

import torch

torch.manual_seed(7)
N, STEPS = 37, 6
p0 = torch.randn(N)
grads = [torch.randn(N) * (0.1 + i) for i in range(STEPS)]
lrs = [0.05, 0.1, 0.1, 0.02, 0.07, 0.1]

cases = [
    ("sgd", dict(momentum=0.0)),
    ("sgd", dict(momentum=0.9)),
    ("sgd", dict(momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("adam", dict()),
    ("adam", dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
]
out = {"p0": p0.tolist(), "grads": [g.tolist() for g in grads], "lrs": lrs, "cases": []}
for name, kw in cases:
    p = torch.nn.Parameter(p0.clone())
    opt = (torch.optim.SGD if name == "sgd" else torch.optim.Adam)([p], lr=lrs[0], foreach=False, **kw)
    after = []
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = g.clone()
        opt.step()
        after.append(p.detach().clone().tolist())
    kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}
    out["cases"].append({"optimizer": name, "options": kw, "params": after})

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_golden.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
