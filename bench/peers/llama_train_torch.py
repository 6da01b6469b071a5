# The train-llama `small` model in PyTorch on CPU (the peer of bench/llama_train.ts): the same
# LLaMA (RMSNorm, rotate_half rope, GQA causal attention, SwiGLU, tied embeddings), AdamW with
# weight decay on matrices, global-norm clipping, same batch and sequence length.
# Prints one JSON line: median step ms, tokens/s and the process's peak RSS.
#   /usr/bin/python3 bench/peers/llama_train_torch.py '{"vocabSize":4096,...,"batch":8,"steps":6}'
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

# Debian's torch starts with one thread; tsgrad uses every core, so the peer does too
torch.set_num_threads(os.cpu_count() or 1)

cfg = json.loads(sys.argv[1])
V, D, L, H, KV, HID, T = (cfg[k] for k in ("vocabSize", "dim", "layers", "heads", "kvHeads", "hidden", "seqLen"))
B, steps, eps = cfg["batch"], cfg["steps"], cfg["normEps"]
hd = D // H
torch.manual_seed(0)


def lin(o, i):
    return torch.nn.Parameter(torch.randn(o, i) * 0.02)


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = torch.nn.Parameter(torch.ones(D))
        self.n2 = torch.nn.Parameter(torch.ones(D))
        self.q, self.k, self.v, self.o = lin(H * hd, D), lin(KV * hd, D), lin(KV * hd, D), lin(D, H * hd)
        self.g, self.u, self.d = lin(HID, D), lin(HID, D), lin(D, HID)


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


inv = 1.0 / (cfg["ropeTheta"] ** (torch.arange(0, hd, 2).float() / hd))
ang = torch.outer(torch.arange(T).float(), inv)
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)


causal = torch.ones(T, T, dtype=torch.bool).tril()


def attention(q, k, v):
    # torch 1.13 (Debian's python3-torch) has no F.scaled_dot_product_attention
    s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    return s.masked_fill(~causal, float("-inf")).softmax(-1) @ v


def rope(x):
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Parameter(torch.randn(V, D) * 0.02)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        self.norm = torch.nn.Parameter(torch.ones(D))

    def forward(self, x):
        h = self.emb[x]
        for l in self.layers:
            a = rms(h, l.n1)
            q = rope((a @ l.q.T).view(B, T, H, hd).transpose(1, 2))
            k = rope((a @ l.k.T).view(B, T, KV, hd).transpose(1, 2))
            v = (a @ l.v.T).view(B, T, KV, hd).transpose(1, 2)
            k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
            o = attention(q, k, v)
            h = h + o.transpose(1, 2).reshape(B, T, D) @ l.o.T
            m = rms(h, l.n2)
            h = h + (F.silu(m @ l.g.T) * (m @ l.u.T)) @ l.d.T
        return rms(h, self.norm) @ self.emb.T


model = Model()
ps = list(model.parameters())
opt = torch.optim.AdamW(
    [{"params": [p for p in ps if p.dim() >= 2]}, {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0}],
    lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
g = torch.Generator().manual_seed(1)
times = []
for s in range(steps):
    x = torch.randint(0, V, (B, T), generator=g)
    y = torch.randint(0, V, (B, T), generator=g)
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x).view(B * T, V), y.view(B * T))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(ps, 1.0)
    opt.step()
    loss.item()
    times.append((time.perf_counter() - t0) * 1000)
warm = sorted(times[2:]) if len(times) > 2 else sorted(times)
ms = warm[len(warm) // 2]
print(json.dumps({"ms": ms, "tokensPerSecond": B * T / ms * 1000, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": torch.get_num_threads(), "torch": torch.__version__}))
