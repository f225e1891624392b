#!/usr/bin/python3
"""Writes the golden files of a locally conditioned WaveNet (wavenet_lc.py's WaveNetLC) with
random weights, for the Go test that checks causalconv's local conditioning against PyTorch.

  lc_small.safetensors  the state_dict (float32, state_dict order, state_dict names) and
                        __metadata__ {"model": <config JSON with "local_condition": {channels,
                        hop, window, snip_edges, context, upsample_scales, mean, std}>,
                        "sample_rate": "8000"}; no global condition
  lc_small.json         6 FSDD files (the first 2 test-split files of each of the first 3
                        speakers in sorted order), each with its mu-law classes ("classes", the
                        whole file), its Kaldi fbank features ("features", frames x C) and the
                        summed cross-entropy in nats of x[1:] predicted from x[:-1] given the
                        features, start 0 (the whole file through the network, zero padding
                        before the start); bits_per_sample over all of them;
                        bits_without_features, the same with every filter_gate_lc weight zero;
                        "crop", one file's x[S:S+L+1] scored with start S (the alignment's
                        start offset); "probe", the logits of file 0 at positions around the
                        alignment's edges; "fbank", the feature settings; "check", what the Go
                        test should compare and to what tolerance; "near_misses", how much
                        likely mistakes move bits_per_sample (each over 1e-3, or the run fails)

Features: Kaldi fbank as torchaudio.compliance.kaldi.fbank (0.13.1) computes it on the file's
int16 samples (as float32, not rescaled), with Kaldi's defaults at 8 kHz and dither 0
(FBANK below).  torchaudio is not installed on this machine, so kaldi_fbank() below is a
transcription of torchaudio's code for these settings; it is checked every run against
audio/kaldifeat/testdata's goldens, which torchaudio 0.13.1 itself wrote (FBANK_TOLERANCE).
Storing the features in the JSON keeps this golden independent of any Go fbank.  The
normalisation statistics in the config are the per-dim mean and population standard deviation
(divide by N) over all frames of the 6 files, computed in float64 and rounded to float32.

Weights: PyTorch's default initialisation from a fixed seed, every tensor then widened by WIDEN
as gen_gc.py does, the conditioning 1x1 convs (filter_gate_lc.*) scaled by LC_SCALE more so that
the features matter (bits_per_sample and bits_without_features differ by 0.89 bits/sample;
random weights, so the features make it worse, not better), and
the upsampling kernels (lc_upsample.*, initialised to r9y9's average 1/(2s+1)) replaced by
N(0, UPSAMPLE_SD^2) draws: averaging kernels make neighbouring columns nearly equal, so an
alignment one sample off would move bits/sample by about 1.5e-4, too close to the Go test's
1e-4; with random kernels it moves the probe's logits by over 1.  Audio is prepared as gen_gc.py
prepares it (DC removed, peak scaled to 0.95, mu-law with Q classes).

Self checks, every run (a failed one stops the run before anything is written):
  - with filter_gate_lc zeroed the model equals the reference WaveNet exactly (and, with global
    conditioning too, WaveNetGC with the same weights; the state_dict order is WaveNetGC's then
    the LC tensors);
  - 'perlayer' == 'fused' within 1e-4 in the logits; a batch with different starts == one at a
    time within 1e-4 (float32) and 1e-9 (float64);
  - the float64 model's bits/sample == float32's within 1e-4;
  - an explicit loop implementation of steps 1-5 of the spec (loop_condition: Python loops over
    columns, no convolutions) == the module's tensor version within 1e-6, for snip_edges true
    and false, start 0 and start > 0, and positions past both ends of the frames;
  - the near misses move bits/sample by over 1e-3, and a start one sample off moves the probe's
    logits by over 0.05.

Run from the repository root:  /usr/bin/python3 causalconv/testdata/gen_lc.py
"""
import csv
import json
import math
import os
import sys
import wave

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "causalconv", "torchpt", "testdata"))
from wavenet_lc import WaveNet, WaveNetLC, WaveNetLC64, frame_offset  # noqa: E402
from wavenet_gc import WaveNetGC  # noqa: E402
from gen_pt import read_wav, write_safetensors  # noqa: E402
from wavenet_reference import mu_law_encode  # noqa: E402

LC_SMALL = {  # gen_gc.py's GC_SMALL
    "quantization_channels": 256, "input_encoding": "onehot", "input_kernel_size": 1,
    "residual_channels": 8, "dilation_channels": 8, "skip_channels": 16, "end_channels": 16,
    "kernel_size": 2, "dilations": [1, 2, 4, 8, 16, 1, 2, 4, 8, 16],
    "bias": True, "residual_on_last_layer": False,
}
RATE = 8000
# kaldifeat.DefaultFbank(8000) in its JSON form: Kaldi's compute-fbank-feats defaults, dither 0.
# energy_floor only matters with use_energy (off), so it has no effect here.
FBANK = {
    "kind": "fbank", "sample_frequency": float(RATE), "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
    "snip_edges": True, "dither": 0.0, "remove_dc_offset": True, "preemphasis_coefficient": 0.97,
    "window_type": "povey", "round_to_power_of_two": True, "num_mel_bins": 23,
    "low_freq": 20.0, "high_freq": 0.0, "use_energy": False, "raw_energy": True, "energy_floor": 1.0,
}
LC = {"channels": 23, "hop": 80, "window": 200, "snip_edges": True, "context": 2, "upsample_scales": [4, 4, 5]}
WIDEN, LC_SCALE, UPSAMPLE_SD = 2.0, 3.0, 0.7
SEED = 2022
SPEAKERS, FILES_PER_SPEAKER = 3, 2
CROP_START = 1200
NEAR_MISS_MIN = 1e-3
PROBE_TOLERANCE, PROBE_MISS_MIN = 1e-3, 0.05
FBANK_TOLERANCE = 1e-4       # absolute, on log mel energies of order 10


# ---- Kaldi fbank: torchaudio.compliance.kaldi.fbank 0.13.1 for FBANK's settings ----

def _strided(wav, size, shift, snip_edges):
    """torchaudio's _get_strided: frames (m, size)."""
    n = wav.shape[0]
    if snip_edges:
        m = 1 + (n - size) // shift
    else:
        rev = torch.flip(wav, [0])
        m = (n + shift // 2) // shift
        pad = size // 2 - shift // 2
        wav = torch.cat((rev[-pad:], wav, rev), 0) if pad > 0 else torch.cat((wav[-pad:], rev), 0)
    return wav.as_strided((m, size), (shift * wav.stride(0), wav.stride(0)))


def _mel_banks(bins, padded, rate, low, high):
    """torchaudio's get_mel_banks without VTLN: (bins, padded/2), float32."""
    mel_scalar = lambda f: 1127.0 * math.log(1.0 + f / 700.0)
    if high <= 0.0:
        high += 0.5 * rate
    width = rate / padded
    mlow, mhigh = mel_scalar(low), mel_scalar(high)
    delta = (mhigh - mlow) / (bins + 1)
    b = torch.arange(bins, dtype=torch.float32).unsqueeze(1)
    left, center, right = mlow + b * delta, mlow + (b + 1.0) * delta, mlow + (b + 2.0) * delta
    mel = (1127.0 * (1.0 + width * torch.arange(padded / 2, dtype=torch.float32) / 700.0).log()).unsqueeze(0)
    up, down = (mel - left) / (center - left), (right - mel) / (right - center)
    return torch.max(torch.zeros(1), torch.min(up, down))


def kaldi_fbank(pcm, snip_edges, o=FBANK):
    """pcm: 1-D float32 tensor of int16 values -> (frames, num_mel_bins) float32 log mel energies."""
    rate = o["sample_frequency"]
    shift, size = int(rate * o["frame_shift_ms"] * 0.001), int(rate * o["frame_length_ms"] * 0.001)
    padded = 1 << (size - 1).bit_length()
    x = _strided(pcm, size, shift, snip_edges)
    x = x - torch.mean(x, dim=1).unsqueeze(1)
    prev = F.pad(x.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)
    x = x - o["preemphasis_coefficient"] * prev[:, :-1]
    x = x * torch.hann_window(size, periodic=False).pow(0.85).unsqueeze(0)
    x = F.pad(x.unsqueeze(0), (0, padded - size), mode="constant", value=0).squeeze(0)
    spectrum = torch.fft.rfft(x).abs().pow(2.0)
    banks = _mel_banks(o["num_mel_bins"], padded, rate, o["low_freq"], o["high_freq"])
    banks = F.pad(banks, (0, 1), mode="constant", value=0)
    mel = torch.mm(spectrum, banks.T)
    return torch.max(mel, torch.tensor(torch.finfo(torch.float32).eps)).log()


def read_pcm(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == RATE, path
        return torch.from_numpy(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32))


def check_fbank():
    """kaldi_fbank == torchaudio 0.13.1's goldens in audio/kaldifeat/testdata (default fbank,
    both snip_edges); returns the largest absolute difference."""
    d = os.path.join(ROOT, "audio", "kaldifeat", "testdata")
    meta = json.load(open(os.path.join(d, "golden.json")))
    worst, n = 0.0, 0
    for g in meta["golden"]:
        if g["kind"] != "fbank" or set(g["options"]) != {"sample_frequency", "dither", "snip_edges"}:
            continue
        want = torch.from_numpy(np.fromfile(os.path.join(d, g["file"]), dtype="<f4").reshape(g["rows"], g["cols"]))
        got = kaldi_fbank(read_pcm(os.path.join(d, g["wav"])), g["options"]["snip_edges"])
        assert got.shape == want.shape, (g["file"], got.shape, want.shape)
        worst, n = max(worst, (got - want).abs().max().item()), n + 1
    assert n >= 8 and worst < FBANK_TOLERANCE, (n, worst)
    return worst


# ---- the spec's steps 1-5 written out with loops over columns ----

def loop_condition(X, lc, w_in, ws, start, T):
    """X: (C, F) raw features; w_in: (C, C, 2P+1); ws: the stages' kernels (2s+1,); all float64.
    Returns Cond (C, T) by the spec's words, one column at a time."""
    C, nF = X.shape
    P, mean, std = lc["context"], torch.tensor(lc["mean"], dtype=torch.float64), torch.tensor(lc["std"], dtype=torch.float64)
    Xn = [(X[:, k] - mean) / std for k in range(nF)]                           # 1
    Xp = [Xn[0]] * P + Xn + [Xn[-1]] * P                                        # 2
    U = []                                                                      # 3
    for k in range(nF):
        a = torch.zeros(C, dtype=torch.float64)
        for j in range(2 * P + 1):
            a = a + w_in[:, :, j] @ Xp[k + j]
        U.append(a)
    for s, w in zip(lc["upsample_scales"], ws):                                 # 4
        S = [U[u // s] for u in range(len(U) * s)]
        n, U = len(S), []
        for u in range(n):
            acc = torch.zeros(C, dtype=torch.float64)
            for d in range(-s, s + 1):
                if 0 <= u + d < n:
                    acc = acc + w[d + s] * S[u + d]
            U.append(acc)
    assert len(U) == nF * lc["hop"]
    off = (lc["window"] - lc["hop"]) // 2 if lc["snip_edges"] else 0          # 5
    return torch.stack([U[min(max(start + t + 1 - off, 0), len(U) - 1)] for t in range(T)], 1)


def check_loop(model64, feats):
    """loop_condition == the module's condition(); returns the largest difference."""
    worst = 0.0
    w_in = model64.lc_conv_in.weight.detach()
    ws = [c.weight.detach()[0, 0, 0] for c in model64.lc_upsample]
    nF = feats.shape[1]
    for snip in (True, False):
        lc = dict(model64.lc, snip_edges=snip)
        m = WaveNetLC64(model64.m, lc).double()
        m.load_state_dict(model64.state_dict())
        span = nF * lc["hop"]
        for start, T in [(0, span + 150), (333, 700), (span - 40, 120)]:
            want = loop_condition(feats.double(), lc, w_in, ws, start, T)
            with torch.no_grad():
                got = m.condition(feats[None].double(), T, torch.tensor([start]))[0]
            worst = max(worst, (got - want).abs().max().item())
    assert worst < 1e-6, worst
    return worst


def self_check(model, x, feats, starts):
    """x (B, T) classes, feats (B, C, F), starts (B,).  Returns the perlayer/fused and the
    batch/one-at-a-time differences."""
    m, lc = model.m, model.lc
    sd = model.state_dict()
    lc_keys = [k for k in sd if k.startswith(("lc_conv_in.", "lc_upsample.", "filter_gate_lc."))]
    assert list(sd)[-len(lc_keys):] == lc_keys, list(sd)
    plain = WaveNet(m)
    missing, unexpected = plain.load_state_dict(sd, strict=False)
    assert not missing and sorted(unexpected) == sorted(lc_keys), (missing, unexpected)
    zeroed = WaveNetLC(m, lc)
    zeroed.load_state_dict(sd)
    with torch.no_grad():
        for c in zeroed.filter_gate_lc:
            c.weight.zero_()
        want = plain(x)
        for st in (None, starts):
            got = zeroed(x, feats, st)
            assert torch.equal(got, want), (got - want).abs().max().item()
        per = WaveNetLC(m, lc, impl="perlayer")
        per.load_state_dict(sd)
        d_per = (per(x, feats, starts) - model(x, feats, starts)).abs().max().item()
        assert d_per < 1e-4, d_per
        # a batch with different starts == one at a time: float32 within 1e-4 (the conv
        # algorithms differ with the batch size, so the sums' order does too), and float64
        # within 1e-9 (that is, the same function)
        d_batch = []
        m64 = WaveNetLC64(m, lc).double()
        m64.load_state_dict(sd)
        for mm, tol in [(model, 1e-4), (m64, 1e-9)]:
            both, worst = mm(x, feats, starts), 0.0
            for b in range(x.shape[0]):
                one = mm(x[b:b + 1], feats[b:b + 1], starts[b:b + 1])
                worst = max(worst, (one - both[b:b + 1]).abs().max().item())
            assert worst < tol, (worst, tol)
            d_batch.append(worst)

        # with global conditioning too: WaveNetGC's tensors first, in its order, then LC's;
        # with filter_gate_lc zeroed, WaveNetGC exactly
        G, card = 4, 3
        gl = WaveNetLC(m, lc, G, card)
        gc = WaveNetGC(m, G, card)
        gsd = gl.state_dict()
        assert list(gsd)[:len(gc.state_dict())] == list(gc.state_dict()), list(gsd)
        assert list(gsd)[len(gc.state_dict()):] == lc_keys
        gc.load_state_dict(gsd, strict=False)
        for c in gl.filter_gate_lc:
            c.weight.zero_()
        spk = torch.arange(x.shape[0]) % card
        assert torch.equal(gl(x, feats, starts, spk), gc(x, spk))
    for bad in [dict(lc, upsample_scales=[4, 4, 4]), dict(lc, std=[0.0] * lc["channels"]),
                dict(lc, mean=[0.0]), dict(lc, context=-1)]:
        try:
            WaveNetLC(m, bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"WaveNetLC built with {bad}")
    return d_per, d_batch


class ZeroPadLC(WaveNetLC):
    """A near miss: step 2 with zero padding instead of replicating the edge frames."""

    def upsample(self, feats):
        P = self.lc["context"]
        xn = (feats - self.lc_mean[:, None]) / self.lc_std[:, None]
        u = self.lc_conv_in(F.pad(xn, (P, P))).unsqueeze(1)
        for s, conv in zip(self.lc["upsample_scales"], self.lc_upsample):
            u = conv(u.repeat_interleave(s, dim=3))
        return u.squeeze(1)


def bits_of(model, clips, feats, shift=0):
    """bits/sample over the files, each scored whole from start `shift` (0: the golden's)."""
    nats, n = 0.0, 0
    with torch.no_grad():
        for c, f in zip(clips, feats):
            logits = model(c[None, :-1], f[None], torch.tensor([shift]))
            nats, n = nats + F.cross_entropy(logits, c[None, 1:], reduction="sum").item(), n + len(c) - 1
    return nats / n / math.log(2)


def probe_positions(model, n):
    """Positions of file 0 (n inputs) around the alignment's edges: the first, those whose
    column crosses the first frame blocks' edges, the middle, and the last ones, past the frames."""
    off, H = frame_offset(model.lc), model.lc["hop"]
    ts = [0, 1, off - 2, off - 1, off, off + H - 2, off + H - 1, off + H, n // 2, n - 2, n - 1]
    return sorted({t for t in ts if 0 <= t < n})


def probe_logits(model, c, f, positions, shift=0):
    with torch.no_grad():
        return model(c[None, :-1], f[None], torch.tensor([shift]))[0][:, positions].t()   # (P, Q)


def near_misses(model, clips, feats, bits):
    """The golden must tell the likely mistakes from the model: each of these changes
    bits_per_sample by over NEAR_MISS_MIN (10x the Go test's tolerance), and an alignment one
    sample off changes the probe's logits by over PROBE_MISS_MIN (50x its tolerance).  Returns
    the bits differences and the probe differences."""
    m, lc, sd = model.m, model.lc, model.state_dict()
    pos = probe_positions(model, len(clips[0]) - 1)
    want = probe_logits(model, clips[0], feats[0], pos)
    probe = {f"start_{sh:+d}": (probe_logits(model, clips[0], feats[0], pos, sh) - want).abs().max().item() for sh in (-1, 1)}
    assert all(v > PROBE_MISS_MIN for v in probe.values()), probe

    def built(cls, lc2):
        x = cls(m, lc2)
        x.load_state_dict(sd)
        return x.eval()
    nolc = {k: v for k, v in lc.items() if k not in ("mean", "std")}
    got = {
        "col_t_without_plus_1": bits_of(model, clips, feats, -1) - bits,
        "col_t_plus_2": bits_of(model, clips, feats, 1) - bits,
        "offset_0_as_without_snip_edges": bits_of(built(WaveNetLC, dict(lc, snip_edges=False)), clips, feats) - bits,
        "no_normalisation": bits_of(built(WaveNetLC, nolc), clips, feats) - bits,
        "zero_padding_in_step_2": bits_of(built(ZeroPadLC, lc), clips, feats) - bits,
    }
    small = {k: v for k, v in got.items() if abs(v) < NEAR_MISS_MIN}
    assert not small, small
    return got, probe


def f32(v):
    """v rounded to float32, as a Python float (written to JSON, it reads back exactly)."""
    return float(np.float32(v))


def main():
    torch.set_num_threads(1)
    d_fbank = check_fbank()
    fsdd = os.path.join(ROOT, "samples", "fsdd")
    rows = list(csv.DictReader(open(os.path.join(fsdd, "manifest.csv"))))
    speakers = sorted({r["speaker"] for r in rows})[:SPEAKERS]
    picked = []
    for s in speakers:
        picked += [r for r in rows if r["speaker"] == s and r["split"] == "test"][:FILES_PER_SPEAKER]
    assert len(picked) == FILES_PER_SPEAKER * SPEAKERS
    q = LC_SMALL["quantization_channels"]
    clips = [mu_law_encode(torch.from_numpy(read_wav(os.path.join(fsdd, r["path"]))), q) for r in picked]
    feats = [kaldi_fbank(read_pcm(os.path.join(fsdd, r["path"])), LC["snip_edges"]).t().contiguous() for r in picked]
    assert all(f.shape[0] == LC["channels"] for f in feats)
    allf = torch.cat(feats, 1).double()
    lc = dict(LC, mean=[f32(v) for v in allf.mean(1).tolist()], std=[f32(v) for v in allf.std(1, unbiased=False).tolist()])

    torch.manual_seed(SEED)
    model = WaveNetLC(LC_SMALL, lc)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(WIDEN)
        for c in model.filter_gate_lc:
            c.weight.mul_(LC_SCALE)
        for c in model.lc_upsample:
            c.weight.normal_(0.0, UPSAMPLE_SD)
    model.eval()

    L = min(len(c) for c in clips[:3]) - 1
    nF = min(f.shape[1] for f in feats[:3])
    d_per, d_batch = self_check(model, torch.stack([c[:L] for c in clips[:3]]),
                                torch.stack([f[:, :nF] for f in feats[:3]]), torch.tensor([0, 17, 250]))

    model64 = WaveNetLC64(LC_SMALL, lc).double()
    model64.load_state_dict(model.state_dict())
    model64.eval()
    d_loop = check_loop(model64, feats[0])
    nolc = WaveNetLC(LC_SMALL, lc)
    nolc.load_state_dict(model.state_dict())
    with torch.no_grad():
        for c in nolc.filter_gate_lc:
            c.weight.zero_()

    files, nats, nats0, nats64, n = [], 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for r, c, f in zip(picked, clips, feats):
            x, y, fb = c[None, :-1], c[None, 1:], f[None]
            v = F.cross_entropy(model(x, fb), y, reduction="sum").item()
            v0 = F.cross_entropy(nolc(x, fb), y, reduction="sum").item()
            v64 = F.cross_entropy(model64(x, fb), y, reduction="sum").item()
            files.append({"path": "samples/fsdd/" + r["path"], "speaker": r["speaker"],
                          "samples": len(c) - 1, "frames": f.shape[1], "start": 0, "nats": v,
                          "classes": c.tolist(), "features": f.t().tolist()})
            nats, nats0, nats64, n = nats + v, nats0 + v0, nats64 + v64, n + len(c) - 1
        bits, bits0, bits64 = (v / n / math.log(2) for v in (nats, nats0, nats64))
        S = CROP_START
        c, f = clips[0], feats[0]
        Lc = len(c) - 1 - S
        xc = c[S:S + Lc + 1]
        crop_nats = F.cross_entropy(model(xc[None, :-1], f[None], torch.tensor([S])), xc[None, 1:], reduction="sum").item()
    assert abs(bits64 - bits) < 1e-4, (bits, bits64)
    assert abs(bits0 - bits) > 0.5, (bits, bits0)
    assert abs(bits_of(model, clips, feats) - bits) < 1e-9
    misses, probe_misses = near_misses(model, clips, feats, bits)
    pos = probe_positions(model, len(clips[0]) - 1)
    probe = {"file": 0, "start": 0, "positions": pos,
             "logits": probe_logits(model, clips[0], feats[0], pos).tolist(),
             "tolerance": PROBE_TOLERANCE,
             "note": "logits (Q per position) of file 0 scored whole from start 0, at positions "
                     "around the alignment's edges; an alignment one sample off changes them by "
                     + ", ".join(f"{v:.3g} ({k})" for k, v in probe_misses.items())}

    cfg = dict(LC_SMALL, local_condition=lc)
    sd = model.state_dict()
    assert all(v.dtype == torch.float32 for v in sd.values())
    write_safetensors(os.path.join(HERE, "lc_small.safetensors"), list(sd.items()),
                      {"model": json.dumps(cfg), "sample_rate": str(RATE)})
    out = {
        "files": files, "bits_per_sample": bits, "bits_without_features": bits0,
        "crop": {"file": 0, "start": S, "length": Lc, "nats": crop_nats},
        "probe": probe,
        "fbank": dict(FBANK, implementation="torchaudio.compliance.kaldi.fbank 0.13.1 (transcribed, checked against audio/kaldifeat/testdata)",
                      input="the file's int16 samples as float32 values, not rescaled"),
        "check": {
            "bits_per_sample_tolerance": 1e-4,
            "how": "score every file (its classes, its features, start 0) and sum nats; "
                   "bits_per_sample = sum nats / sum samples / ln 2 must be within 1e-4 of the "
                   "golden's; per-file nats and the crop's nats (classes[start:start+length+1], "
                   "same features, start given) and the probe's logits (within probe.tolerance) "
                   "are there to localise a failure; the probe also pins the alignment to the sample",
            "self_checks": {"fbank_vs_torchaudio_max_abs": d_fbank, "perlayer_vs_fused_max_abs_logit": d_per,
                            "batch_vs_single_max_abs_logit": d_batch, "loop_vs_module_condition_max_abs": d_loop,
                            "float64_bits_per_sample": bits64},
        },
        "near_misses": dict(misses, note="bits/sample minus bits_per_sample for likely mistakes; "
                                        "each must exceed 1e-3 in size (10x the tolerance) or gen_lc.py fails"),
        "torch": torch.__version__,
    }
    with open(os.path.join(HERE, "lc_small.json"), "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"lc_small: {sum(v.numel() for v in sd.values())} parameters, {n} samples in {len(files)} files")
    print(f"bits/sample {bits:.6f} (with features), {bits0:.6f} (filter_gate_lc zeroed), float64 model {bits64:.6f}")
    print(f"crop of file 0 from {S}, {Lc} samples: {crop_nats:.4f} nats")
    print(f"self checks: fbank vs torchaudio {d_fbank:.3g}, perlayer vs fused {d_per:.3g}, "
          f"batch vs single {d_batch[0]:.3g} (float64 {d_batch[1]:.3g}), loop vs module {d_loop:.3g}, |bits64 - bits| {abs(bits64 - bits):.3g}")
    print("near misses (bits/sample difference): " + ", ".join(f"{k} {v:+.4g}" for k, v in misses.items()))
    print("probe logits, alignment one sample off: " + ", ".join(f"{k} {v:.3g}" for k, v in probe_misses.items()))


if __name__ == "__main__":
    main()
