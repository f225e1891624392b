#!/usr/bin/python3
"""Golden resampler outputs from torchaudio.functional.resample, whose
default (sinc_interpolation: Hann window, lowpass_filter_width 6, rolloff
0.99) is the same design as Kaldi's LinearResample, which package audio
ports. Run: /usr/bin/python3 audio/testdata/gen_resample.py
"""
import json
import os

import torch
import torchaudio

torch.manual_seed(0)
out = []
for orig, new, n in [(22050, 8000, 400), (8000, 16000, 200), (16000, 8000, 300), (44100, 8000, 500), (8000, 11025, 150)]:
    x = (torch.rand(n) * 2 - 1) * 0.8
    y = torchaudio.functional.resample(x.unsqueeze(0), orig, new).squeeze(0)
    out.append({"in": orig, "out": new, "x": [float(v) for v in x], "y": [float(v) for v in y]})
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "resample_torchaudio.json"), "w") as f:
    json.dump({"torchaudio": torchaudio.__version__, "cases": out}, f)
