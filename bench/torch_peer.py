# PyTorch (CPU) peer for `npm run bench`, a bench-only peer (run with /usr/bin/python3 when it
# imports torch): the same cases and models as bench/run.ts and bench/models.ts, timed the plain
# way (the median of 7 calls after 2 warm-ups, results not freed early), in ms, as JSON.
# Usage: torch_peer.py [case-prefix ...]
import json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(os.cpu_count() or 1)
torch.manual_seed(0)
only = sys.argv[1:]
want = lambda name: not only or any(name.startswith(o) or o.startswith(name) for o in only)

def plain(fn, n=7, warm=2):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); r = fn(); ts.append((time.perf_counter() - t0) * 1e3)
        del r
    return sorted(ts)[n // 2]

class Block(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(B, T, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)
        # PyTorch 1.13 has no F.scaled_dot_product_attention: the math form with a causal mask
        s = (q @ k.transpose(-1, -2)) / (C // self.h) ** 0.5
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf'))
        a = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        h = x + self.proj(a)
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))

class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.b1 = nn.Conv2d(1, 32, 5), nn.Conv2d(32, 32, 5), nn.BatchNorm2d(32)
        self.c3, self.c4, self.b2 = nn.Conv2d(32, 64, 3), nn.Conv2d(64, 64, 3), nn.BatchNorm2d(64)
        self.fc = nn.Linear(576, 10)
    def forward(self, x):
        x = F.max_pool2d(self.b1(F.relu(self.c2(F.relu(self.c1(x))))), 2)
        x = F.max_pool2d(self.b2(F.relu(self.c4(F.relu(self.c3(x))))), 2)
        return self.fc(x.flatten(1))

out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
for n in (64, 256, 512, 1024, 2048):
    if want(f"matmul{n}") or want("matmul"):
        a, b = torch.randn(n, n), torch.randn(n, n)
        out[f"matmul{n}"] = plain(lambda: a @ b)
with torch.no_grad():
    if want("elementwise"):
        x = torch.randn(1 << 24)
        out["elementwise"] = plain(lambda: torch.relu(x * 2 + 1) * torch.sigmoid(x))
    if want("softmax"):
        s = torch.randn(4096, 4096)
        out["softmax"] = plain(lambda: s.softmax(-1))
    if want("conv2d"):
        x, w = torch.randn(8, 64, 56, 56), torch.randn(64, 64, 3, 3)
        out["conv2d"] = plain(lambda: F.conv2d(x, w, padding=1))
    if want("smallops"):
        small = torch.rand(1000)
        def small_ops():
            y = small
            for i in range(100):
                y = y * 0.999 if i % 2 else y + 0.001
            return y
        out["smallops"] = plain(small_ops)
if want("transformer"):
    blk = Block(256, 4)
    x = torch.randn(8, 128, 256)
    with torch.no_grad():
        out["transformer"] = plain(lambda: blk(x))
    opt = torch.optim.Adam(blk.parameters(), lr=1e-4)
    def train():
        opt.zero_grad()
        loss = blk(x).square().mean()
        loss.backward()
        opt.step()
        return loss.item()
    out["transformer-train"] = plain(train)
if want("mnist"):
    m = MnistCnn()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x, y = torch.randn(64, 1, 28, 28), torch.arange(64) % 10
    def step():
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    out["mnist"] = plain(step)
json.dump(out, sys.stdout)
