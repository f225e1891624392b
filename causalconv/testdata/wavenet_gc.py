"""A speaker-conditioned WaveNet (global conditioning, van den Oord et al. 2016, section 2.5)
built on the reference WaveNet of train/recipe/wavenet_reference.py.

Each dilated layer i gets a bias that depends on the speaker:

    [f; g] = filter_gate[i](h) + filter_gate_gc[i](e),   e = gc_embedding(speaker)
    z      = tanh(f) * sigmoid(g)

with e a learned G-vector per speaker (an nn.Embedding of C rows) and filter_gate_gc[i] a
bias-free 1x1 conv from G to 2D channels, broadcast over time.  Everything else is the
reference forward unchanged.  With G = 0 the model is the plain WaveNet, so this class refuses
it: use WaveNet itself.

Input (B, T) int64 mu-law classes and (B,) int64 speaker rows -> logits (B, Q, T); output t
predicts sample t+1.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train", "recipe"))
from wavenet_reference import WaveNet  # noqa: E402


class WaveNetGC(WaveNet):
    def __init__(self, m, gc_channels, gc_cardinality, impl="fused"):
        if gc_channels < 1 or gc_cardinality < 1:
            raise ValueError("WaveNetGC needs gc_channels >= 1 and gc_cardinality >= 1 "
                             "(without conditioning use WaveNet)")
        super().__init__(m, impl)
        G, C, D = gc_channels, gc_cardinality, m["dilation_channels"]
        self.gc_channels, self.gc_cardinality = G, C
        self.gc_embedding = nn.Embedding(C, G)
        self.filter_gate_gc = nn.ModuleList(nn.Conv1d(G, 2 * D, 1, bias=False) for _ in self.dilations)

    def forward(self, x, speaker):
        # the reference forward with one added line (marked)
        e = self.gc_embedding(speaker).unsqueeze(-1)                      # (B, G, 1)
        h = self.embed(x)
        D = self.m["dilation_channels"]
        skip_sum, zs = None, []
        for i, d in enumerate(self.dilations):
            fg = self.filter_gate[i](F.pad(h, ((self.K - 1) * d, 0)))   # causal: pad left only
            fg = fg + self.filter_gate_gc[i](e)                          # added: (B, 2D, 1) over time
            z = torch.tanh(fg[:, :D]) * torch.sigmoid(fg[:, D:])
            if self.impl == "fused":
                zs.append(z)
            else:
                s = self.skip[i](z)
                skip_sum = s if skip_sum is None else skip_sum + s
            if i < self.n_res:
                h = h + self.residual[i](z)
        if self.impl == "fused":
            w, b = self.fused_skip_weights()
            skip_sum = F.conv1d(torch.cat(zs, dim=1), w, b)
        return self.post2(F.relu(self.post1(F.relu(skip_sum))))
