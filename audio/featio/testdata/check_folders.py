#!/usr/bin/python3
"""Check that features folders written by nextsample load outside Go.

    /usr/bin/python3 check_folders.py ARK_DIR NPY_DIR HTK_DIR

The three folders must hold the same features in the three formats (as
`nextsample features --format ark|npy|htk` writes them; ark with the text
form). Each .npy is loaded with numpy.load; feats.ark is read through
feats.scp offsets and sequentially with the independent readers below (no
kaldiio needed); feats.txt is parsed as Kaldi text; .htk files with struct.
Every matrix must agree bit for bit across formats (text to its 7 digits).
Not run by `go test`: it needs numpy, and folders made by the CLI.
"""

import csv
import json
import os
import struct
import sys

import numpy as np


def read_ark(path):
    data, out, p = open(path, "rb").read(), {}, 0
    while p < len(data):
        sp = data.index(b" ", p)
        key, p = data[p:sp].decode(), sp + 1
        assert data[p:p + 5] == b"\0BFM ", (key, data[p:p + 5])
        s1, rows, s2, cols = struct.unpack("<bibi", data[p + 5:p + 15])
        assert s1 == 4 and s2 == 4
        out[key] = (p, np.frombuffer(data[p + 15:p + 15 + 4 * rows * cols], "<f4").reshape(rows, cols))
        p += 15 + 4 * rows * cols
    return out


def read_ark_text(path):
    out, key, rows = {}, None, []
    for tok_line in open(path):
        line = tok_line.strip()
        if key is None:
            key, rest = line.split(None, 1)
            assert rest.strip() in ("[", "[ ]"), rest
            if rest.strip() == "[ ]":
                out[key], key = np.zeros((0, 0), "<f4"), None
            continue
        end = line.endswith("]")
        vals = line.rstrip("]").split()
        if vals:
            rows.append([float(v) for v in vals])
        if end:
            out[key], key, rows = np.array(rows, dtype="<f4"), None, []
    return out


def read_htk(path):
    data = open(path, "rb").read()
    n, period, size, kind = struct.unpack(">iihH", data[:12])
    return period, kind, np.frombuffer(data[12:], ">f4").reshape(n, size // 4)


def main(ark_dir, npy_dir, htk_dir):
    ark = read_ark(os.path.join(ark_dir, "feats.ark"))
    text = read_ark_text(os.path.join(ark_dir, "feats.txt"))
    arkfile = open(os.path.join(ark_dir, "feats.ark"), "rb").read()
    scp = [line.split() for line in open(os.path.join(ark_dir, "feats.scp"))]
    assert [k for k, _ in scp] == list(ark), "scp and ark keys differ"
    for key, rx in scp:
        off = int(rx.rsplit(":", 1)[1])
        assert arkfile[off:off + 2] == b"\0B" and off == ark[key][0], (key, off)
    meta = {d: json.load(open(os.path.join(d, "features.json"))) for d in (ark_dir, npy_dir, htk_dir)}
    hop_100ns = round(meta[htk_dir]["hop_samples"] * 1e7 / meta[htk_dir]["sample_rate"])
    rows = list(csv.DictReader(open(os.path.join(npy_dir, "index.csv"))))
    hrows = {r["key"]: r for r in csv.DictReader(open(os.path.join(htk_dir, "index.csv")))}
    assert [r["key"] for r in rows] == list(ark), "npy index and ark keys differ"
    for r in rows:
        key = r["key"]
        a = ark[key][1]
        n = np.load(os.path.join(npy_dir, r["path"]))
        assert n.dtype == np.float32 and n.shape == (int(r["frames"]), int(r["dims"])), (key, n.dtype, n.shape)
        period, kind, h = read_htk(os.path.join(htk_dir, hrows[key]["path"]))
        assert period == hop_100ns, (key, period)
        assert np.array_equal(a, n) and np.array_equal(a, h), key
        t = text[key]
        assert t.shape == a.shape and np.allclose(t, a, rtol=1e-6, atol=0), key
    print("%d utterances agree across ark (scp offsets, sequential), ark text, npy (numpy.load) and htk; "
          "dims %d, count %s" % (len(rows), meta[npy_dir]["dims"], [m["count"] for m in meta.values()]))


if __name__ == "__main__":
    main(*sys.argv[1:4])
