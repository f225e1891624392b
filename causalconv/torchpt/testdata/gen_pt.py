#!/usr/bin/python3
"""Writes the real torch.save files that causalconv/torchpt's tests and fuzzer start from, and
the golden NLL of a small model trained by the PyTorch reference module.

  small.pt              torch.save(model.state_dict()) of a small reference WaveNet, trained for
                        150 Adam steps on the bundled FSDD train split
  small.safetensors     the same state_dict as a PyTorch user exports it: the state_dict names,
                        __metadata__ {"model": <config JSON>, "sample_rate": "8000"} only
  small.json            the config, the test files and PyTorch's own NLL of the model on them,
                        under the reference protocol (each whole file through the network, the
                        mean cross-entropy of every sample after the first, in bits)
  checkpoint.pt         {"model": state_dict, "optimizer": Adam state_dict, "step": N}
  half.pt, bf16.pt, double.pt   the state_dict in float16 / bfloat16 / float64
  module_prefix.pt      keys prefixed "module." (a model saved from DataParallel)
  parameters.pt         state_dict(keep_vars=True): nn.Parameters (_rebuild_parameter)
  proto4.pt             pickle_protocol=4 (FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE)
  views.pt              tensors that are views: transposed, sliced with an offset, sharing a
                        storage, a scalar, an empty tensor, an int64 tensor
  legacy.pt             the pre-1.6 format (_use_new_zipfile_serialization=False): refused
  evil.pt               a dict whose value pickles as a call of os.system: refused, nothing runs
  torchscript.pt        torch.jit.save of a scripted module: refused with a hint

Audio is prepared as the reference README says: channels averaged, DC removed, peak scaled to
0.95, mu-law with Q classes (torch_fsdd.py's read_wav).

Run from the repository root:  /usr/bin/python3 causalconv/torchpt/testdata/gen_pt.py
"""
import collections
import csv
import json
import math
import os
import random
import struct
import sys
import wave

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "train", "recipe"))
from wavenet_reference import WaveNet, mu_law_encode, receptive_field  # noqa: E402

SMALL = {
    "quantization_channels": 256, "input_encoding": "onehot", "input_kernel_size": 1,
    "residual_channels": 16, "dilation_channels": 16, "skip_channels": 32, "end_channels": 32,
    "kernel_size": 2, "dilations": [1, 2, 4, 8, 16, 32, 64, 128],
    "bias": True, "residual_on_last_layer": False,
}
STEPS, BATCH, WINDOW, SEED, TEST_FILES = 150, 4, 2000, 5, 12


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    x = x - x.mean()
    peak = np.abs(x).max()
    return x * (0.95 / peak) if peak > 0 else x


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors:
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/torchpt-evil-ran",))


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    fsdd = os.path.join(ROOT, "samples", "fsdd")
    rows = list(csv.DictReader(open(os.path.join(fsdd, "manifest.csv"))))
    q = SMALL["quantization_channels"]
    load = lambda r: mu_law_encode(torch.from_numpy(read_wav(os.path.join(fsdd, r["path"]))), q)
    train = [load(r) for r in rows if r["split"] == "train"]
    test_rows = [r for r in rows if r["split"] == "test"][:TEST_FILES]
    model = WaveNet(SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for step in range(STEPS):
        xs = []
        for _ in range(BATCH):
            c = train[rng.randrange(len(train))]
            T = min(WINDOW, len(c) - 1)
            a = rng.randint(0, len(c) - 1 - T)
            xs.append(c[a:a + T + 1])
        L = min(len(x) for x in xs)
        X = torch.stack([x[:L] for x in xs])
        opt.zero_grad()
        loss = F.cross_entropy(model(X[:, :-1]), X[:, 1:])
        loss.backward()
        opt.step()
    model.eval()
    nats, n = 0.0, 0
    with torch.no_grad():
        for r in test_rows:
            c = load(r)
            nats += F.cross_entropy(model(c[None, :-1]), c[None, 1:], reduction="sum").item()
            n += len(c) - 1
    bits = nats / n / math.log(2)
    sd = model.state_dict()
    torch.save(sd, os.path.join(HERE, "small.pt"))
    write_safetensors(os.path.join(HERE, "small.safetensors"), list(sd.items()),
                      {"model": json.dumps(SMALL), "sample_rate": "8000"})
    json.dump({"generator": "gen_pt.py, torch " + torch.__version__, "model": SMALL,
               "files": [r["path"] for r in test_rows], "samples": n, "bits_per_sample": bits},
              open(os.path.join(HERE, "small.json"), "w"), indent=1)
    print(f"small: {model.__class__.__name__} rf={receptive_field(SMALL)} test bits/sample {bits:.6f} over {n} samples")

    torch.save({"model": sd, "optimizer": opt.state_dict(), "step": STEPS}, os.path.join(HERE, "checkpoint.pt"))
    for name, dt in [("half", torch.float16), ("bf16", torch.bfloat16), ("double", torch.float64)]:
        torch.save(collections.OrderedDict((k, v.to(dt)) for k, v in sd.items()), os.path.join(HERE, name + ".pt"))
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), os.path.join(HERE, "module_prefix.pt"))
    torch.save(model.state_dict(keep_vars=True), os.path.join(HERE, "parameters.pt"))
    torch.save(sd, os.path.join(HERE, "proto4.pt"), pickle_protocol=4)

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = collections.OrderedDict()
    views["base"] = base
    views["transposed"] = base.t()
    views["rows"] = base[1:3]
    views["column"] = base[:, 2]
    views["scalar"] = torch.tensor(2.5)
    views["empty"] = torch.zeros(0, 3)
    views["long"] = torch.arange(5)
    torch.save(views, os.path.join(HERE, "views.pt"))

    torch.save(sd, os.path.join(HERE, "legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save({"weight": torch.ones(2), "payload": Evil()}, os.path.join(HERE, "evil.pt"))
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(HERE, "torchscript.pt"))


if __name__ == "__main__":
    main()
