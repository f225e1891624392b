#!/usr/bin/env python3
"""same-safetensors.py A B: exit 0 when two safetensors files hold the same
tensors (names, dtypes, shapes and bytes) and the same metadata, except the
wall time a checkpoint's "train" state records ("seconds"); else say what
differs and exit 1. Used by .ci/compare-release."""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    if "train" in meta:
        state = json.loads(meta["train"])
        state.pop("seconds", None)
        meta["train"] = state
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = (t["dtype"], t["shape"], data[a:b])
    return meta, tensors


def main():
    a, b = sys.argv[1], sys.argv[2]
    ma, ta = load(a)
    mb, tb = load(b)
    ok = True
    if ma != mb:
        for k in sorted(set(ma) | set(mb)):
            if ma.get(k) != mb.get(k):
                print(f"compare-release: {a}: metadata {k!r} differs:\n  {ma.get(k)}\n  {mb.get(k)}", file=sys.stderr)
        ok = False
    for name in sorted(set(ta) | set(tb)):
        if ta.get(name) != tb.get(name):
            print(f"compare-release: {a}: tensor {name!r} differs", file=sys.stderr)
            ok = False
            break
    sys.exit(0 if ok else 1)


main()
