#!/usr/bin/python3
"""The FSDD training recipe of issue 3, run with the PyTorch reference module, to time it
side by side with `nextsample train` on the same machine.

Recipe: torch_wavenet.WaveNet (default skip256 model from config.json), Adam lr 1e-3,
batches of 8 files from the train split in an epoch-shuffled order, each a random window of
at most 4,000 scored targets with up to RF-1 = 2,046 samples of real context in front (whole
files when shorter), zero padding on the left, masked mean cross-entropy. Audio is prepared
as nextsample does by default (DC removed, peak scaled to 0.95, mu-law 256).

Prints one line per step to stderr and, every --eval-every steps, the NLL in bits/sample on
the test split (every sample after the first of every file). The wall time of training
alone (evaluations excluded) is printed at the end and at every evaluation.

Usage: /usr/bin/python3 torch_fsdd.py --data ../../../shared/data/fsdd/manifest.csv \
           --bench ../../../shared/bench [--steps 650] [--eval-every 50] [--threads 2] [--save final.pt]
"""
import argparse, csv, math, os, random, sys, time, wave

_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
if __name__ == "__main__" and sys.platform.startswith("linux") and "GLIBC_TUNABLES" not in os.environ:
    os.environ["GLIBC_TUNABLES"] = _TUNABLES          # as torch_wavenet.py does (see its README)
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx512")

import numpy as np
import torch
import torch.nn.functional as F


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    x = x - x.mean()
    peak = np.abs(x).max()
    return x * (0.95 / peak) if peak > 0 else x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--bench", required=True, help="folder of torch_wavenet.py and config.json")
    ap.add_argument("--steps", type=int, default=650)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", help="torch.save(model.state_dict()) to this .pt file at the end "
                    "(nextsample convert --config BENCH/config.json --sample-rate 8000 turns it into a model file)")
    a = ap.parse_args()
    sys.path.insert(0, a.bench)
    import json
    from torch_wavenet import WaveNet, mu_law_encode, receptive_field
    m = json.load(open(os.path.join(a.bench, "config.json")))["model"]
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    root = os.path.dirname(os.path.abspath(a.data))
    rows = list(csv.DictReader(open(a.data)))
    load = lambda r: mu_law_encode(torch.from_numpy(read_wav(os.path.join(root, r["path"]))), 256)
    train = [load(r) for r in rows if r["split"] == "train"]
    test = [load(r) for r in rows if r["split"] == "test"]
    rf = receptive_field(m)
    model = WaveNet(m)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"# torch {torch.__version__} threads={a.threads} train={len(train)} test={len(test)} rf={rf}", file=sys.stderr)

    def evaluate():
        model.eval()
        nats, n = 0.0, 0
        with torch.inference_mode():
            for c in test:
                logits = model(c[None, :-1])
                nats += F.cross_entropy(logits, c[None, 1:], reduction="sum").item()
                n += len(c) - 1
        model.train()
        return nats / n / math.log(2)

    order, pos = [], 0
    train_s = 0.0
    for step in range(a.steps + 1):
        if a.eval_every and step % a.eval_every == 0 or step == a.steps:
            print(f"step {step}: test {evaluate():.4f} bits/sample, training wall time {train_s:.1f} s", file=sys.stderr, flush=True)
        if step == a.steps:
            break
        t0 = time.perf_counter()
        xs, ys, masks = [], [], []
        for _ in range(8):
            if pos == len(order):
                order, pos = list(range(len(train))), 0
                rng.shuffle(order)
            c = train[order[pos]]; pos += 1
            T = min(4000, len(c) - 1)
            first = rng.randint(1, len(c) - T)            # first scored target index
            lo = max(0, first - 1 - (rf - 1))
            seq = c[lo:first + T]
            xs.append(seq[:-1]); ys.append(seq[1:])
            mk = torch.zeros(len(seq) - 1, dtype=torch.bool); mk[first - 1 - lo:] = True
            masks.append(mk)
        L = max(len(x) for x in xs)
        # pad each row on the right to the longest window: the convs are causal, so the
        # padding cannot reach the scored positions, and the mask leaves it out of the loss
        X = torch.zeros(8, L, dtype=torch.long); Y = torch.zeros(8, L, dtype=torch.long)
        M = torch.zeros(8, L, dtype=torch.bool)
        for i, (x, y, mk) in enumerate(zip(xs, ys, masks)):
            X[i, :len(x)] = x; Y[i, :len(y)] = y; M[i, :len(mk)] = mk
        opt.zero_grad(set_to_none=True)
        ce = F.cross_entropy(model(X), Y, reduction="none")
        loss = (ce * M).sum() / M.sum()
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        train_s += dt
        print(f"step {step + 1} loss {loss.item() / math.log(2):.3f} bits {dt:.3f} s", file=sys.stderr, flush=True)
    print(f"# training wall time {train_s:.1f} s for {a.steps} steps ({a.steps / train_s * 60:.1f} steps/min)", file=sys.stderr)
    if a.save:
        torch.save(model.state_dict(), a.save)
        print(f"# saved the state_dict to {a.save}", file=sys.stderr)


if __name__ == "__main__":
    main()
