#!/usr/bin/python3
"""Golden files for the featio tests, written independently of the Go code.

Run from this folder with the system Python (numpy 1.24):

    /usr/bin/python3 gen_golden.py

The .npy files come from numpy.save itself. Kaldi archives, scp and HTK
files are written here with struct.pack following the formats' definitions
(Kaldi: util/kaldi-table, Matrix::Write, WriteBasicType; HTK Book 5.10.1),
then read back with the small readers below and compared with the source
matrices, so the script checks its own writers before the Go tests compare
their bytes with these.
"""

import struct

import numpy as np

# Values chosen to exercise number formatting: zero and negative zero,
# exponents on both sides of %g's switch to e-notation, 7-digit rounding.
VALUES = [0.0, -0.0, 1.0, -1.5, 0.1, 3.1415927, 1e-05, -2.5e-08,
          123456.7, 1e10, 65504.0, -7.25]
A = np.array(VALUES, dtype="<f4").reshape(3, 4)
B = (np.arange(2 * 5, dtype="<f4").reshape(2, 5) - 4.5) / 8
EMPTY = np.zeros((0, 0), dtype="<f4")
ENTRIES = [("utt-a", A), ("spk2/utt_b", B), ("empty", EMPTY)]


def ark_binary_entry(key, m):
    rows, cols = m.shape
    return (key.encode() + b" " + b"\0B" + b"FM " + struct.pack("<bi", 4, rows)
            + struct.pack("<bi", 4, cols) + m.astype("<f4").tobytes())


def ark_text_entry(key, m):
    if m.shape[1] == 0:
        return key + "  [ ]\n"
    out = key + "  ["
    for row in m:
        out += "\n  " + "".join("%.7g " % float(v) for v in row)
    return out + "]\n"


def read_ark_binary(data):
    out, p = [], 0
    while p < len(data):
        sp = data.index(b" ", p)
        key = data[p:sp].decode()
        p = sp + 1
        assert data[p:p + 5] == b"\0BFM ", data[p:p + 5]
        size1, rows, size2, cols = struct.unpack("<bibi", data[p + 5:p + 15])
        assert size1 == 4 and size2 == 4
        n = rows * cols
        m = np.frombuffer(data[p + 15:p + 15 + 4 * n], dtype="<f4").reshape(rows, cols)
        out.append((key, p, m))
        p += 15 + 4 * n
    return out


def htk(m, samp_period, parm_kind):
    rows, cols = m.shape
    return struct.pack(">iihH", rows, samp_period, 4 * cols, parm_kind) + m.astype(">f4").tobytes()


def read_htk(data):
    n, period, size, kind = struct.unpack(">iihH", data[:12])
    return period, kind, np.frombuffer(data[12:], dtype=">f4").reshape(n, size // 4)


def main():
    ark = b"".join(ark_binary_entry(k, m) for k, m in ENTRIES)
    with open("golden.ark", "wb") as f:
        f.write(ark)
    scp = ""
    for (key, m), (key2, off, back) in zip(ENTRIES, read_ark_binary(ark)):
        assert key == key2 and np.array_equal(m, back)
        scp += "%s dir/feats.ark:%d\n" % (key, off)
    with open("golden.scp", "w") as f:
        f.write(scp)
    with open("golden.txt", "w") as f:
        f.write("".join(ark_text_entry(k, m) for k, m in ENTRIES))

    np.save("golden_a.npy", A)
    np.save("golden_b.npy", B)
    np.save("golden_empty.npy", np.zeros((0, 23), dtype="<f4"))
    # A row count with more digits shifts numpy's padding (no columns: no data).
    np.save("golden_tall.npy", np.zeros((1234567, 0), dtype="<f4"))
    assert np.array_equal(np.load("golden_a.npy"), A)

    data = htk(A, 100000, 9)  # USER, 10 ms
    with open("golden_user.htk", "wb") as f:
        f.write(data)
    period, kind, back = read_htk(data)
    assert (period, kind) == (100000, 9) and np.array_equal(back, A)
    with open("golden_mfcc_e0.htk", "wb") as f:  # MFCC_E_0 (6 | 0o100 | 0o20000), 20 ms
        f.write(htk(B, 200000, 6 | 0o100 | 0o20000))


if __name__ == "__main__":
    main()
