#!/usr/bin/python3
"""Golden features for the kaldifeat tests.

Run from this folder with the system Python (torch 1.13, torchaudio 0.13):

    /usr/bin/python3 gen_golden.py

For every WAV here (four short FSDD recordings, CC BY-SA 4.0, see
LICENSE.md) it computes torchaudio.compliance.kaldi.fbank and .mfcc with
Kaldi's defaults, dither 0, for snip_edges true and false, and writes each
matrix as raw little-endian float32 (row-major, frames x dims) plus an entry
in golden.json giving its shape. The WAVs are read with the standard-library
wave module, so samples stay in int16 scale, as Kaldi reads them.

Options that differ from torchaudio's defaults, on purpose, to be Kaldi's:
sample_frequency=8000 (the files' rate) and, for MFCC, use_energy=True
(compute-mfcc-feats defaults to --use-energy=true; torchaudio to False).
energy_floor stays at torchaudio's 1.0 (Kaldi's own default is 0, which
with dither 0 can give log(0) frames; the Go Config defaults to 1.0 too).
"""

import json
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

FILES = ["1_george_37.wav", "2_theo_34.wav", "5_jackson_20.wav", "6_yweweler_3.wav"]


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return rate, torch.from_numpy(pcm.astype(np.float32)).unsqueeze(0)


# Non-default options, each run on one file, so that every branch of the Go
# code (window types, FFT without power-of-two padding, energy after the
# window, fbank with an energy column, no lifter) is checked too.
VARIANTS = [
    ("hamming", "fbank", dict(window_type="hamming", round_to_power_of_two=False, use_energy=True)),
    ("hanning", "mfcc", dict(window_type="hanning", raw_energy=False, cepstral_lifter=0.0, use_energy=True)),
    ("rect", "fbank", dict(window_type="rectangular", preemphasis_coefficient=0.0, remove_dc_offset=False,
                           num_mel_bins=40, low_freq=60.0, high_freq=-400.0)),
    ("blackman", "mfcc", dict(window_type="blackman", num_ceps=20, num_mel_bins=30, frame_length=32.0,
                              frame_shift=12.5, use_energy=False, energy_floor=0.0)),
]


def main():
    entries = []

    def add(name, kind, options, tag, m):
        out = "%s.%s.%s.f32" % (name[:-4], kind, tag)
        m.numpy().astype("<f4").tofile(out)
        entries.append(dict(wav=name, kind=kind, options=options, file=out,
                            rows=int(m.shape[0]), cols=int(m.shape[1])))

    for name in FILES:
        rate, wav = read_wav(name)
        for snip in (True, False):
            common = dict(sample_frequency=float(rate), dither=0.0, snip_edges=snip)
            add(name, "fbank", common, "snip%d" % snip, kaldi.fbank(wav, **common))
            opts = dict(common, use_energy=True)
            add(name, "mfcc", opts, "snip%d" % snip, kaldi.mfcc(wav, **opts))
    name = "5_jackson_20.wav"
    rate, wav = read_wav(name)
    for tag, kind, extra in VARIANTS:
        opts = dict(sample_frequency=float(rate), dither=0.0, **extra)
        fn = kaldi.fbank if kind == "fbank" else kaldi.mfcc
        add(name, kind, opts, tag, fn(wav, **opts))
    meta = dict(torch=torch.__version__, torchaudio=torchaudio.__version__, golden=entries)
    with open("golden.json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
