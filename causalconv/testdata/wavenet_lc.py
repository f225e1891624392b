"""A locally conditioned WaveNet (a vocoder: van den Oord et al. 2016, section 2.5; the
upsampling network of r9y9/wavenet_vocoder's ConvInUpsampleNetwork) built on the reference
WaveNet of train/recipe/wavenet_reference.py, optionally with the global (speaker)
conditioning of wavenet_gc.py as well.

The model takes C feature dims per frame, one frame every H samples, and turns them into one
C-vector per sample:

  1. Xn = (X - mean) / std                        per dim; mean, std from the config
  2. Xp = Xn padded with P copies of its first frame before and P of its last after
  3. A  = lc_conv_in(Xp)                          Conv1d(C, C, 2P+1), no padding: C x F
  4. U  = A; for each upsampling stage j with scale s:
          U = each column repeated s times       (nearest-neighbour stretch)
          U = lc_upsample[j](U)                  one shared kernel of 2s+1 taps along time,
                                                 zero padding s each side, every dim alike
     after all stages U is C x (F*H)             (the product of the scales is H)
  5. input position t of a sequence that starts at sample `start` of its utterance predicts
     sample start+t+1, and is conditioned by column
          col(t) = clamp(start + t + 1 - off, 0, F*H - 1),  off = (W - H) div 2 with
     Kaldi's snip_edges (frame k covers samples [kH, kH+W), so its stretched block
     [kH, kH+H) moves to the middle H samples of that window), 0 without.

and in every dilated layer i

    [f; g] = filter_gate[i](h) [+ filter_gate_gc[i](e)] + filter_gate_lc[i](U[:, col])
    z      = tanh(f) * sigmoid(g)

with filter_gate_lc[i] a bias-free 1x1 conv from C to 2D channels.  Everything else is the
reference forward unchanged; with every filter_gate_lc weight zero the model is the plain
WaveNet (or WaveNetGC) exactly.  The normalisation statistics live in the config (non-persistent
buffers here), so the state_dict holds only learned weights, in this order: the reference's,
then gc_embedding and filter_gate_gc.* when G > 0, then lc_conv_in, lc_upsample.*,
filter_gate_lc.*.

Input (B, T) int64 mu-law classes, (B, C, F) raw features, (B,) int64 start samples and, with
global conditioning, (B,) int64 speaker rows -> logits (B, Q, T); output t predicts sample t+1.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train", "recipe"))
from wavenet_reference import WaveNet  # noqa: E402


def check_local_condition(lc):
    """Raises ValueError unless lc is a valid "local_condition" config object."""
    C, H, W, P = lc["channels"], lc["hop"], lc["window"], lc["context"]
    scales = list(lc["upsample_scales"])
    if C < 1 or H < 1 or W < 1 or P < 0:
        raise ValueError(f"local_condition: need channels, hop, window >= 1 and context >= 0, have {lc}")
    prod = 1
    for s in scales:
        if s < 1:
            raise ValueError(f"local_condition: upsample scale {s} < 1")
        prod *= s
    if prod != H:
        raise ValueError(f"local_condition: the upsample scales {scales} multiply to {prod}, not the hop {H}")
    for key in ("mean", "std"):
        if key in lc and len(lc[key]) != C:
            raise ValueError(f"local_condition: {key} has {len(lc[key])} values for {C} channels")
    if any(not s > 0 for s in lc.get("std", [])):
        raise ValueError("local_condition: every std must be > 0")


def frame_offset(lc):
    """off of step 5: the number of samples by which column u of the upsampled features lies
    before the sample it conditions."""
    return (lc["window"] - lc["hop"]) // 2 if lc["snip_edges"] else 0


class WaveNetLC(WaveNet):
    def __init__(self, m, lc, gc_channels=0, gc_cardinality=0, impl="fused"):
        check_local_condition(lc)
        if (gc_channels > 0 or gc_cardinality > 0) and (gc_channels < 1 or gc_cardinality < 1):
            raise ValueError("global conditioning needs gc_channels >= 1 and gc_cardinality >= 1")
        super().__init__(m, impl)
        D, C, P = m["dilation_channels"], lc["channels"], lc["context"]
        self.lc = dict(lc)
        self.gc_channels, self.gc_cardinality = gc_channels, gc_cardinality
        if gc_channels > 0:
            # exactly as WaveNetGC registers them (same names, same order)
            self.gc_embedding = nn.Embedding(gc_cardinality, gc_channels)
            self.filter_gate_gc = nn.ModuleList(nn.Conv1d(gc_channels, 2 * D, 1, bias=False) for _ in self.dilations)
        self.lc_conv_in = nn.Conv1d(C, C, 2 * P + 1, bias=False)
        self.lc_upsample = nn.ModuleList(
            nn.Conv2d(1, 1, (1, 2 * s + 1), padding=(0, s), bias=False) for s in lc["upsample_scales"])
        with torch.no_grad():
            for s, conv in zip(lc["upsample_scales"], self.lc_upsample):
                conv.weight.fill_(1.0 / (2 * s + 1))        # r9y9: start as a moving average
        self.filter_gate_lc = nn.ModuleList(nn.Conv1d(C, 2 * D, 1, bias=False) for _ in self.dilations)
        self.register_buffer("lc_mean", torch.tensor(lc.get("mean", [0.0] * C), dtype=torch.float32), persistent=False)
        self.register_buffer("lc_std", torch.tensor(lc.get("std", [1.0] * C), dtype=torch.float32), persistent=False)

    def upsample(self, feats):
        """Steps 1-4: raw features (B, C, F) -> U (B, C, F*H)."""
        P = self.lc["context"]
        feats = feats.to(self.lc_conv_in.weight.dtype)
        xn = (feats - self.lc_mean[:, None]) / self.lc_std[:, None]
        xp = F.pad(xn, (P, P), mode="replicate") if P > 0 else xn
        u = self.lc_conv_in(xp).unsqueeze(1)                             # (B, 1, C, F)
        for s, conv in zip(self.lc["upsample_scales"], self.lc_upsample):
            u = conv(u.repeat_interleave(s, dim=3))
        return u.squeeze(1)

    def condition(self, feats, T, start=None):
        """Steps 1-5: the conditioning vector of every input position, (B, C, T)."""
        B = feats.shape[0]
        u = self.upsample(feats)
        if start is None:
            start = torch.zeros(B, dtype=torch.long)
        col = start[:, None] + torch.arange(T)[None, :] + 1 - frame_offset(self.lc)
        col = col.clamp(0, u.shape[2] - 1)
        return torch.gather(u, 2, col[:, None, :].expand(B, u.shape[1], T))

    def forward(self, x, feats, start=None, speaker=None):
        # the reference forward with the added lines marked
        if self.gc_channels > 0:                                          # added (as WaveNetGC)
            e = self.gc_embedding(speaker).unsqueeze(-1)                  # (B, G, 1)
        elif speaker is not None:
            raise ValueError("speaker given to a model without global conditioning")
        cond = self.condition(feats, x.shape[1], start)                   # added: (B, C, T)
        h = self.embed(x)
        D = self.m["dilation_channels"]
        skip_sum, zs = None, []
        for i, d in enumerate(self.dilations):
            fg = self.filter_gate[i](F.pad(h, ((self.K - 1) * d, 0)))   # causal: pad left only
            if self.gc_channels > 0:
                fg = fg + self.filter_gate_gc[i](e)                      # added (as WaveNetGC): over time
            fg = fg + self.filter_gate_lc[i](cond)                       # added: (B, 2D, T)
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


class WaveNetLC64(WaveNetLC):
    """The same model, meant to be cast to float64 (.double()) as a check of float32's rounding
    only: the reference's embed casts its one-hot input to float32, so one-hot input is embedded
    here as the equivalent column gather (input kernel size 1)."""

    def embed(self, x):
        assert self.m["input_encoding"] == "onehot" and self.m["input_kernel_size"] == 1
        h = self.input_layer.weight[:, :, 0][:, x].permute(1, 0, 2)      # (B, R, T)
        return h if self.input_layer.bias is None else h + self.input_layer.bias[:, None]
