#!/usr/bin/env python3
"""Writes the fixtures of test/llm/export_model.test.ts under test/fixtures/export_model/:

  python3 scripts/gen_export_model_fixtures.py      (numpy only)

<name>.safetensors  a tiny random LLaMA in Hugging Face LlamaForCausalLM names and layout
                    ([out, in] matrices, q/k in rotate-half order), float32, written by the small
                    safetensors writer below
models.json         per model: the LLMConfig the test passes to exportModel, a prompt, and the
                    logits of every prompt position from the float64 numpy forward pass below
                    (HF's LlamaForCausalLM math: RMS norm, rotate-half rope with optional LLaMA-3
                    frequency scaling, grouped-query causal attention, SiLU-gated MLP).
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'export_model')
VOCAB = 300  # the test trains a 300-token BPE vocabulary
PROMPT_LEN = 12

MODELS = [
    {'name': 'untied_gqa', 'dim': 32, 'layers': 2, 'heads': 4, 'kv': 2, 'head_dim': 8, 'hidden': 48,
     'eps': 1e-5, 'theta': 10000.0, 'context': 64, 'tied': False, 'scaling': None},
    # head_dim * heads != dim; LLaMA-3 rope scaling; embeddings tied to the output
    {'name': 'tied_scaled', 'dim': 24, 'layers': 1, 'heads': 2, 'kv': 2, 'head_dim': 16, 'hidden': 40,
     'eps': 1e-6, 'theta': 500000.0, 'context': 128, 'tied': True,
     'scaling': {'factor': 8.0, 'low': 1.0, 'high': 4.0, 'orig': 16}},
]


def inv_freq(m):
    hd = m['head_dim']
    inv = 1.0 / m['theta'] ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    s = m['scaling']
    if s is None:
        return inv
    # LLaMA-3 scaling as HF transformers defines it
    low_wavelen = s['orig'] / s['low']
    high_wavelen = s['orig'] / s['high']
    wavelen = 2 * np.pi / inv
    smooth = (s['orig'] / wavelen - s['low']) / (s['high'] - s['low'])
    mid = (1 - smooth) * inv / s['factor'] + smooth * inv
    return np.where(wavelen > low_wavelen, inv / s['factor'], np.where(wavelen < high_wavelen, inv, mid))


def weights(m, rng):
    d, H, KV, hd, F = m['dim'], m['heads'], m['kv'], m['head_dim'], m['hidden']
    f32 = lambda a: a.astype(np.float32)
    rand = lambda *shape, scale=None: f32(rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(shape[-1])))
    norm = lambda n, k=1.0: f32((1 + 0.1 * rng.standard_normal(n)) * k)
    W = {'model.embed_tokens.weight': rand(VOCAB, d, scale=0.15 if m['tied'] else 1.0)}
    for i in range(m['layers']):
        p = f'model.layers.{i}.'
        W[p + 'input_layernorm.weight'] = norm(d)
        W[p + 'self_attn.q_proj.weight'] = rand(H * hd, d)
        W[p + 'self_attn.k_proj.weight'] = rand(KV * hd, d)
        W[p + 'self_attn.v_proj.weight'] = rand(KV * hd, d)
        W[p + 'self_attn.o_proj.weight'] = rand(d, H * hd)
        W[p + 'post_attention_layernorm.weight'] = norm(d)
        W[p + 'mlp.gate_proj.weight'] = rand(F, d)
        W[p + 'mlp.up_proj.weight'] = rand(F, d)
        W[p + 'mlp.down_proj.weight'] = rand(d, F)
    W['model.norm.weight'] = norm(d, 4.0 if m['tied'] else 1.0)
    if not m['tied']:
        W['lm_head.weight'] = rand(VOCAB, d)
    return W


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], -1)


def silu(x):
    return x / (1 + np.exp(-x))


def forward(m, W, tokens):
    W = {k: v.astype(np.float64) for k, v in W.items()}
    H, KV, hd, eps = m['heads'], m['kv'], m['head_dim'], m['eps']
    T = len(tokens)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv_freq(m)[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    x = W['model.embed_tokens.weight'][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(m['layers']):
        L = lambda n: W[f'model.layers.{i}.{n}']
        h = rmsnorm(x, L('input_layernorm.weight'), eps)
        q = (h @ L('self_attn.q_proj.weight').T).reshape(T, H, hd).transpose(1, 0, 2)
        k = (h @ L('self_attn.k_proj.weight').T).reshape(T, KV, hd).transpose(1, 0, 2)
        v = (h @ L('self_attn.v_proj.weight').T).reshape(T, KV, hd).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = np.repeat(k, H // KV, 0), np.repeat(v, H // KV, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        att = (p @ v).transpose(1, 0, 2).reshape(T, H * hd)
        x = x + att @ L('self_attn.o_proj.weight').T
        h = rmsnorm(x, L('post_attention_layernorm.weight'), eps)
        x = x + (silu(h @ L('mlp.gate_proj.weight').T) * (h @ L('mlp.up_proj.weight').T)) @ L('mlp.down_proj.weight').T
    x = rmsnorm(x, W['model.norm.weight'], eps)
    out = W['model.embed_tokens.weight'] if m['tied'] else W['lm_head.weight']
    return x @ out.T


def safetensors_bytes(tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + b''.join(blobs)


def llm_config(m):
    s = m['scaling']
    c = {
        'arch': 'llama', 'vocabSize': VOCAB, 'dim': m['dim'], 'layers': m['layers'], 'heads': m['heads'],
        'kvHeads': m['kv'], 'headDim': m['head_dim'], 'hidden': m['hidden'], 'normEps': m['eps'],
        'ropeTheta': m['theta'], 'ropeLayout': 'neox', 'contextLength': m['context'], 'tiedEmbeddings': m['tied'],
    }
    if s:
        c['ropeScaling'] = {'factor': s['factor'], 'lowFreqFactor': s['low'], 'highFreqFactor': s['high'],
                            'originalMaxPos': s['orig']}
    return c


def main():
    os.makedirs(OUT, exist_ok=True)
    out = []
    for seed, m in enumerate(MODELS):
        rng = np.random.default_rng(4200 + seed)
        W = weights(m, rng)
        with open(os.path.join(OUT, m['name'] + '.safetensors'), 'wb') as f:
            f.write(safetensors_bytes(W))
        prompt = [int(t) for t in rng.integers(0, VOCAB, PROMPT_LEN)]
        logits = forward(m, W, prompt)
        out.append({'name': m['name'], 'config': llm_config(m), 'prompt': prompt,
                    'logits': [float('%.10g' % v) for v in logits.reshape(-1)]})
    with open(os.path.join(OUT, 'models.json'), 'w') as f:
        json.dump(out, f)
        f.write('\n')


if __name__ == '__main__':
    main()
