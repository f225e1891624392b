"""The model of the PyTorch reference, ../shared/bench/torch_wavenet.py: its WaveNet class and
mu-law functions, copied verbatim (causalconv/torchpt's TestReferenceCopy checks this where
../shared/bench exists) so that tests and recipes in this repository run without ../shared.
Input (B, T) int64 mu-law classes -> logits (B, Q, T); see ../shared/bench/README.md.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def receptive_field(m):
    return (m["kernel_size"] - 1) * sum(m["dilations"]) + m["input_kernel_size"]


def mu_law_encode(x, q):
    mu = q - 1
    y = torch.sign(x) * torch.log1p(mu * torch.abs(x)) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).long().clamp_(0, mu)


def mu_law_decode(c, q):
    mu = q - 1
    y = 2 * c.float() / mu - 1
    return torch.sign(y) * ((1 + mu) ** torch.abs(y) - 1) / mu


class WaveNet(nn.Module):
    """Input (B, T) int64 mu-law classes -> logits (B, Q, T); output t predicts sample t+1."""

    def __init__(self, m, impl="fused"):
        super().__init__()
        if impl not in ("fused", "perlayer"):
            raise ValueError("impl must be 'fused' or 'perlayer'")
        self.m, self.impl = m, impl
        Q, R, D = m["quantization_channels"], m["residual_channels"], m["dilation_channels"]
        S, E, K = m["skip_channels"], m["end_channels"], m["kernel_size"]
        bias = m["bias"]
        self.K = K
        self.dilations = list(m["dilations"])
        L = len(self.dilations)
        self.n_res = L if m["residual_on_last_layer"] else L - 1
        if m["input_encoding"] == "onehot":
            self.input_layer = nn.Conv1d(Q, R, m["input_kernel_size"], bias=bias)
        else:
            self.input_layer = nn.Embedding(Q, R)
            self.input_bias = nn.Parameter(torch.zeros(R)) if bias else None
        # filter and gate convolutions fused into one conv with 2*D output channels
        self.filter_gate = nn.ModuleList(nn.Conv1d(R, 2 * D, K, dilation=d, bias=bias) for d in self.dilations)
        # skip 1x1 convs: one per layer; impl 'fused' applies them as a single
        # 1x1 conv over the concatenated gate outputs [z_1 .. z_L] (identical math:
        # sum_i W_i z_i + b_i == [W_1 .. W_L] [z_1; ..; z_L] + sum_i b_i)
        self.skip = nn.ModuleList(nn.Conv1d(D, S, 1, bias=bias) for _ in self.dilations)
        self.residual = nn.ModuleList(nn.Conv1d(D, R, 1, bias=bias) for _ in range(self.n_res))
        self.post1 = nn.Conv1d(S, E, 1, bias=bias)
        self.post2 = nn.Conv1d(E, Q, 1, bias=bias)

    def embed(self, x):
        m = self.m
        if m["input_encoding"] == "onehot":
            oh = F.one_hot(x, m["quantization_channels"]).transpose(1, 2).float()
            return self.input_layer(F.pad(oh, (m["input_kernel_size"] - 1, 0)))
        h = self.input_layer(x).transpose(1, 2)
        if self.input_bias is not None:
            h = h + self.input_bias[:, None]
        return h

    def fused_skip_weights(self):
        w = torch.cat([c.weight for c in self.skip], dim=1)             # (S, L*D, 1)
        b = None if self.skip[0].bias is None else torch.stack([c.bias for c in self.skip]).sum(0)
        return w, b

    def forward(self, x):
        h = self.embed(x)
        D = self.m["dilation_channels"]
        skip_sum, zs = None, []
        for i, d in enumerate(self.dilations):
            fg = self.filter_gate[i](F.pad(h, ((self.K - 1) * d, 0)))   # causal: pad left only
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
