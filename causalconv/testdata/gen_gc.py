#!/usr/bin/python3
"""Writes the golden files of a speaker-conditioned WaveNet (wavenet_gc.py's WaveNetGC) with
random weights, for the Go test that checks causalconv's global conditioning against PyTorch.

  gc_small.safetensors  the state_dict (float32, state_dict order, state_dict names) and
                        __metadata__ {"model": <config JSON with "global_condition":
                        {"channels": G, "cardinality": C}>, "speakers": <JSON list of the C
                        speaker names, embedding row order>, "sample_rate": "8000"}
  gc_small.json         10 FSDD files (the first 2 test-split files of each speaker in manifest
                        order), each scored with its own speaker's row: the summed cross-entropy
                        in nats of x[1:] predicted from x[:-1] (the whole file through the
                        network, zero padding before the start); bits_per_sample over all of
                        them; bits_with_speaker0_for_all, the same with every file given row 0

The weights are PyTorch's default initialisation from a fixed seed, every tensor then widened
by WIDEN (as gen_golden.py does: the default initialisation gives logits of a few hundredths,
a near-uniform 8.04 bits/sample that a wrong network could come within a few hundredths of),
and the conditioning 1x1 convs (filter_gate_gc.*) scaled by GC_SCALE more, so that the
speaker matters (over 1 bit/sample between each file's own speaker and row 0 for all).  Audio is prepared
as gen_pt.py does (channels averaged, DC removed, peak scaled to 0.95, mu-law with Q classes).

Run from the repository root:  /usr/bin/python3 causalconv/testdata/gen_gc.py
"""
import csv
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "causalconv", "torchpt", "testdata"))
from wavenet_gc import WaveNet, WaveNetGC  # noqa: E402
from gen_pt import read_wav, write_safetensors  # noqa: E402
from wavenet_reference import mu_law_encode  # noqa: E402

GC_SMALL = {
    "quantization_channels": 256, "input_encoding": "onehot", "input_kernel_size": 1,
    "residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 16,
    "kernel_size": 2, "dilations": [1, 2, 4, 8, 16, 1, 2, 4, 8, 16],
    "bias": True, "residual_on_last_layer": False,
}
GC_CHANNELS = 4
WIDEN, GC_SCALE, EMBED_SCALE = 2.0, 3.0, 1.0
SEED = 2016
FILES_PER_SPEAKER = 2


class WaveNetGC64(WaveNetGC):
    """The same model in float64, as a check of float32's rounding only: the reference's
    embed casts its one-hot input to float32, so one-hot input is embedded here as the
    equivalent column gather (input kernel size 1)."""

    def embed(self, x):
        assert self.m["input_encoding"] == "onehot" and self.m["input_kernel_size"] == 1
        h = self.input_layer.weight[:, :, 0][:, x].permute(1, 0, 2)      # (B, R, T)
        return h if self.input_layer.bias is None else h + self.input_layer.bias[:, None]


def self_check(model, speakers, x):
    """WaveNetGC with zeroed conditioning == WaveNet with the same other weights; the 'perlayer'
    path == the 'fused' one; G = 0 is refused."""
    m = model.m
    plain = WaveNet(m)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing, missing
    assert sorted(unexpected) == sorted(k for k in model.state_dict() if k.startswith(("gc_embedding.", "filter_gate_gc."))), unexpected
    zeroed = WaveNetGC(m, model.gc_channels, model.gc_cardinality)
    zeroed.load_state_dict(model.state_dict())
    with torch.no_grad():
        for c in zeroed.filter_gate_gc:
            c.weight.zero_()
        want = plain(x)
        for s in range(len(speakers)):
            got = zeroed(x, torch.full((x.shape[0],), s, dtype=torch.long))
            assert torch.equal(got, want), (s, (got - want).abs().max().item())
        per = WaveNetGC(m, model.gc_channels, model.gc_cardinality, impl="perlayer")
        per.load_state_dict(model.state_dict())
        spk = torch.arange(x.shape[0]) % len(speakers)
        d = (per(x, spk) - model(x, spk)).abs().max().item()
        assert d < 1e-4, d
        # batching with different speakers == one at a time
        both = model(x, spk)
        for b in range(x.shape[0]):
            one = model(x[b:b + 1], spk[b:b + 1])
            assert (one - both[b:b + 1]).abs().max().item() < 1e-5
    for g, c in [(0, len(speakers)), (GC_CHANNELS, 0)]:
        try:
            WaveNetGC(m, g, c)
        except ValueError:
            pass
        else:
            raise AssertionError(f"WaveNetGC(G={g}, C={c}) was built")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    fsdd = os.path.join(ROOT, "samples", "fsdd")
    rows = list(csv.DictReader(open(os.path.join(fsdd, "manifest.csv"))))
    speakers = sorted({r["speaker"] for r in rows})
    row_of = {s: i for i, s in enumerate(speakers)}
    picked = []
    for s in speakers:
        picked += [r for r in rows if r["speaker"] == s and r["split"] == "test"][:FILES_PER_SPEAKER]
    assert len(picked) == FILES_PER_SPEAKER * len(speakers)
    q = GC_SMALL["quantization_channels"]
    load = lambda r: mu_law_encode(torch.from_numpy(read_wav(os.path.join(fsdd, r["path"]))), q)

    model = WaveNetGC(GC_SMALL, GC_CHANNELS, len(speakers))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(WIDEN)
        model.gc_embedding.weight.mul_(EMBED_SCALE)
        for c in model.filter_gate_gc:
            c.weight.mul_(GC_SCALE)
    model.eval()

    clips = [load(r) for r in picked]
    L = min(len(c) for c in clips[:3])
    self_check(model, speakers, torch.stack([c[:L] for c in clips[:3]]))

    model64 = WaveNetGC64(GC_SMALL, GC_CHANNELS, len(speakers)).double()
    model64.load_state_dict(model.state_dict())
    model64.eval()

    files, nats, nats0, nats64, n = [], 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for r, c in zip(picked, clips):
            x, y = c[None, :-1], c[None, 1:]
            spk = torch.tensor([row_of[r["speaker"]]])
            f = F.cross_entropy(model(x, spk), y, reduction="sum").item()
            f0 = F.cross_entropy(model(x, torch.tensor([0])), y, reduction="sum").item()
            f64 = F.cross_entropy(model64(x, spk), y, reduction="sum").item()
            files.append({"path": "samples/fsdd/" + r["path"], "speaker": r["speaker"],
                          "samples": len(c) - 1, "nats": f})
            nats, nats0, nats64, n = nats + f, nats0 + f0, nats64 + f64, n + len(c) - 1
    bits, bits0 = nats / n / math.log(2), nats0 / n / math.log(2)

    cfg = dict(GC_SMALL, global_condition={"channels": GC_CHANNELS, "cardinality": len(speakers)})
    sd = model.state_dict()
    assert all(v.dtype == torch.float32 for v in sd.values())
    write_safetensors(os.path.join(HERE, "gc_small.safetensors"), list(sd.items()),
                      {"model": json.dumps(cfg), "speakers": json.dumps(speakers), "sample_rate": "8000"})
    json.dump({"files": files, "bits_per_sample": bits, "bits_with_speaker0_for_all": bits0,
               "torch": torch.__version__},
              open(os.path.join(HERE, "gc_small.json"), "w"), indent=1)
    print(f"gc_small: {sum(v.numel() for v in sd.values())} parameters, {n} samples in {len(files)} files")
    print(f"bits/sample {bits:.6f} (own speaker), {bits0:.6f} (speaker row 0 for all), "
          f"float64 model {nats64 / n / math.log(2):.6f}")


if __name__ == "__main__":
    main()
