#!/usr/bin/python3
"""griffin_lim.py: the classical vocoder baseline of issue 22 (README "Comparing speech").

For every file of a manifest split, compute the Kaldi log-mel filterbank a locally
conditioned nextsample model is trained on (torchaudio.compliance.kaldi.fbank: 25 ms
Povey windows every 10 ms, snip-edges, pre-emphasis 0.97, DC removed, no dither; 40 bins
at 8 kHz, 80 at 16 kHz), then invert it the way vocoder papers take as the baseline:
torchaudio's InverseMelScale (with Kaldi's own mel banks, so the inversion undoes exactly
the filterbank that was applied) to a power spectrogram, GriffinLim (64 iterations) to a
waveform (moved by half a window: torch's frames are centred on k·hop where Kaldi's
snip-edges frames start, and cut to the original length), then the pre-emphasis undone. Writes OUT/<same relative path>.wav (16-bit), so
that `nextsample compare --split SPLIT MANIFEST OUT` pairs them by key.

  /usr/bin/python3 train/recipe/griffin_lim.py samples/fsdd/manifest.csv test runs/griffin_lim
  nextsample compare --split test samples/fsdd/manifest.csv runs/griffin_lim

Needs python3-torch and python3-torchaudio (Debian). Deterministic (GriffinLim's random
initial phase is seeded).
"""
import csv
import os
import sys

import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

N_ITER = 64
PREEMPH = 0.97


def main():
    manifest, split, out = sys.argv[1], sys.argv[2], sys.argv[3]
    root = os.path.dirname(os.path.abspath(manifest))
    rows = [r for r in csv.DictReader(open(manifest)) if r.get("split", "") == split]
    torch.manual_seed(0)
    for r in rows:
        wav, rate = torchaudio.load(os.path.join(root, r["path"]))
        x = wav.mean(0, keepdim=True) * 32768.0          # int16 units, as Kaldi reads
        bins = 40 if rate < 16000 else 80
        win, hop = int(0.025 * rate), int(0.010 * rate)
        n_fft = 1 << (win - 1).bit_length()
        feats = kaldi.fbank(x, num_mel_bins=bins, frame_length=25.0, frame_shift=10.0,
                            dither=0.0, snip_edges=True, sample_frequency=rate,
                            preemphasis_coefficient=PREEMPH, remove_dc_offset=True,
                            window_type="povey", use_energy=False)   # (frames, bins), log mel power
        mel_power = feats.exp().t()                                  # (bins, frames)
        banks, _ = kaldi.get_mel_banks(bins, n_fft, float(rate), 20.0, 0.0, 100.0, -500.0, 1.0)
        banks = torch.nn.functional.pad(banks, (0, 1))               # (bins, n_fft/2+1): Kaldi drops Nyquist
        inv = torchaudio.transforms.InverseMelScale(n_stft=n_fft // 2 + 1, n_mels=bins, sample_rate=rate,
                                                    max_iter=2000, tolerance_loss=1e-8, tolerance_change=1e-10)
        inv.fb = banks.t().contiguous()                              # (n_freqs, n_mels): Kaldi's banks
        power = inv(mel_power).clamp(min=0)                          # (n_freqs, frames)
        gl = torchaudio.transforms.GriffinLim(n_fft=n_fft, win_length=win, hop_length=hop, power=2.0,
                                              n_iter=N_ITER, momentum=0.99, length=None, rand_init=True)
        y = gl(power)
        # torch's frames are centred on k·hop, Kaldi's snip-edges frames start there:
        # shift by half a window, then fit the original length
        y = torch.cat([torch.zeros(win // 2), y])[: x.shape[1]]
        y = torch.nn.functional.pad(y, (0, x.shape[1] - y.shape[0]))
        # undo the pre-emphasis: y[t] = e[t] + 0.97 y[t-1]
        y = torchaudio.functional.lfilter(y[None], torch.tensor([1.0, -PREEMPH]), torch.tensor([1.0, 0.0]), clamp=False)[0]
        y = (y / 32768.0).clamp(-1, 1)
        dst = os.path.join(out, os.path.splitext(r["path"])[0] + ".wav")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        torchaudio.save(dst, y[None], rate, encoding="PCM_S", bits_per_sample=16)
    print(f"griffin_lim: {len(rows)} files of split {split} in {out}")


if __name__ == "__main__":
    main()
