#!/usr/bin/env python3
"""Writes the tiny LLM test models and their reference outputs under test/fixtures/llm/:

  /usr/bin/python3 -m venv --system-site-packages /tmp/ggvenv && /tmp/ggvenv/bin/pip install gguf
  /tmp/ggvenv/bin/python scripts/gen_llm_fixtures.py

<name>.gguf     a tiny model (random weights) of each family and weight type, written by gguf-py's
                GGUFWriter with llama.cpp's tensor names and metadata keys, and a small byte-level
                BPE tokenizer (tokenizer.ggml.model 'gpt2': the 256 byte tokens in GPT-2's
                byte->unicode mapping, merges learned from a short text, special tokens of type 3,
                bos/eos ids, a chat template).
hf_<name>/      the same weights as a Hugging Face folder (config.json + safetensors, one sharded).
<name>.json     reference logits of a prompt (every position) and a greedy continuation; for models
                with Q8_0/Q4_0 weights also the same for one-token steps ('decodeLogits',
                'decodeGreedy', 'afterPrefill'), which quantize their activations as below.

The reference is an independent implementation of each architecture in PyTorch (float64), in
Hugging Face's layout (rotate_half rope, unpermuted q/k), fed with the weights dequantized by
gguf-py (llama q/k rows un-permuted back from llama.cpp's layout). Q4_K/Q6_K blocks are random
valid bytes (gguf-py has no quantizer for them) with small f16 scales.

One-token steps over Q8_0/Q4_0 weights compute x @ W^T as llama.cpp does (tsgrad's intDot,
src/nn/quant_matvec.ts): the input row x of each such linear is quantized per block of 32 to int8
(scale d = max|x| / 127 in float32, q = x * (1 / d) in float32 rounded half to even), then the
products are exact: the result is (q * d) @ W^T with W dequantized. The reference models exactly
that (act_q8): every row of a sequence decoded one token at a time went through it, so the decode
reference is the full forward with every such linear's input rows quantized. A prefill (several
tokens) quantizes every row the same way (tsgrad's int8 matmul, src/nn/quant_matmul.ts), so
'decodeLogits' is its reference too. 'afterPrefill' is the step after a float prefill of the
prompt (only its last row quantized): tsgrad with `intDot: false` for the linears' inputs but
integer steps had those numerics; the tests no longer read it. Mixture-of-experts expert matmuls
stay float in both.
"""
import json
import os
import struct

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'llm')
os.makedirs(OUT, exist_ok=True)
torch.set_default_dtype(torch.float64)

# ---- tokenizer metadata ------------------------------------------------------------------------


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


CORPUS = ('the cat sat on the mat. the dog ate the bone. hello world, hello there! '
          'a tiny model says hello to the other tiny model and the cat.')
SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>',
            '<|endoftext|>', '<|im_start|>', '<|im_end|>']
LLAMA3_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}")
CHATML_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}")


def make_vocab(size):
    """256 byte tokens, BPE merges learned greedily from CORPUS, then the special tokens."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    words = [[b2u[b] for b in (w if i == 0 else ' ' + w).encode()] for i, w in enumerate(CORPUS.split(' '))]
    merges = []
    while len(tokens) + len(SPECIALS) < size:
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        (a, b), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f'{a} {b}')
        tokens.append(a + b)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    types = [1] * len(tokens) + [3] * len(SPECIALS)
    return tokens + SPECIALS, types, merges


def add_tokenizer(w, size, family):
    tokens, types, merges = make_vocab(size)
    ids = {t: i for i, t in enumerate(tokens)}
    w.add_tokenizer_model('gpt2')
    w.add_tokenizer_pre('llama-bpe' if family == 'llama' else 'qwen2')
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    if family == 'llama':
        w.add_bos_token_id(ids['<|begin_of_text|>'])
        w.add_eos_token_id(ids['<|eot_id|>'])
        w.add_add_bos_token(True)
        w.add_chat_template(LLAMA3_TEMPLATE)
    else:
        w.add_bos_token_id(ids['<|endoftext|>'])
        w.add_eos_token_id(ids['<|im_end|>'])
        w.add_add_bos_token(False)
        w.add_chat_template(CHATML_TEMPLATE)
    return ids


# ---- models ----------------------------------------------------------------------------------

MODELS = [
    # name, gguf arch, family features, sizes, weight types
    dict(name='llama3_f32', arch='llama', dim=64, heads=4, kv=2, hidden=64, layers=2, wtype='F32', etype='F32',
         tied=False, theta=500000.0, eps=1e-5, scaling=dict(factor=8.0, low=1.0, high=4.0, orig=64), hf='single'),
    dict(name='llama2_q8_0', arch='llama', dim=64, heads=4, kv=4, hidden=96, layers=2, wtype='Q8_0', etype='Q8_0',
         tied=True, theta=10000.0, eps=1e-6),
    dict(name='llama_q4_0', arch='llama', dim=64, heads=4, kv=2, hidden=96, layers=2, wtype='Q4_0', etype='Q8_0',
         tied=False, theta=10000.0, eps=1e-5),
    dict(name='llama_kquant', arch='llama', dim=256, heads=4, kv=2, hidden=256, layers=1, wtype='Q4_K',
         etype='Q6_K', tied=False, theta=10000.0, eps=1e-5),
    dict(name='qwen2_f16', arch='qwen2', dim=64, heads=4, kv=2, hidden=96, layers=2, wtype='F16', etype='F16',
         tied=False, theta=1000000.0, eps=1e-6, hf='sharded'),
    dict(name='qwen3_bf16', arch='qwen3', dim=64, heads=4, kv=2, head_dim=32, hidden=96, layers=2, wtype='BF16',
         etype='BF16', tied=True, theta=1000000.0, eps=1e-6, hf='single'),
    dict(name='mixtral_q8_0', arch='llama', dim=64, heads=4, kv=2, hidden=64, layers=2, wtype='Q8_0', etype='Q8_0',
         tied=False, theta=1000000.0, eps=1e-5, experts=4, used=2),
    dict(name='mixtral_f16', arch='llama', dim=32, heads=4, kv=2, hidden=32, layers=1, wtype='F16', etype='F16',
         tied=False, theta=1000000.0, eps=1e-5, experts=4, used=2, hf='single'),
    dict(name='qwen3moe_q4_0', arch='qwen3moe', dim=64, heads=4, kv=2, head_dim=16, hidden=64, layers=2,
         wtype='Q4_0', etype='F16', tied=False, theta=1000000.0, eps=1e-6, experts=4, used=2),
    dict(name='qwen2moe_q8_0', arch='qwen2moe', dim=32, heads=4, kv=2, hidden=32, shared=64, layers=1,
         wtype='Q8_0', etype='Q8_0', tied=True, theta=1000000.0, eps=1e-6, experts=4, used=2),
]
VOCAB = 300
CONTEXT = 256
PROMPT_LEN = 12
GREEDY = 16


def llama3_inv_freq(head_dim, theta, s):
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if s is None:
        return inv
    # HF transformers' _compute_llama3_parameters, restated
    low_wavelen = s['orig'] / s['low']
    high_wavelen = s['orig'] / s['high']
    wavelen = 2 * np.pi / inv
    smooth = (s['orig'] / wavelen - s['low']) / (s['high'] - s['low'])
    mid = (1 - smooth) * inv / s['factor'] + smooth * inv
    return np.where(wavelen > low_wavelen, inv / s['factor'], np.where(wavelen < high_wavelen, inv, mid))


def permute(w, n_head):
    """llama.cpp's q/k row order for its 'normal' rope (convert_hf_to_gguf's LlamaModel.permute)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def encode(x, wtype, rng):
    """(raw array for the GGUF writer, raw_dtype, dequantized float32 values)"""
    x = x.astype(np.float32)
    if wtype == 'F32':
        return x, None, x
    if wtype == 'F16':
        h = x.astype(np.float16)
        return h, None, h.astype(np.float32)
    qt = T[wtype]
    if wtype in ('Q4_K', 'Q6_K'):
        block, size = gguf.GGML_QUANT_SIZES[qt]
        nb = x.size // block
        raw = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
        for off in ([0, 2] if wtype == 'Q4_K' else [208]):  # d (and dmin): small finite f16
            s = (rng.standard_normal(nb) * (5e-4 if wtype == 'Q4_K' else 2e-4)).astype(np.float16)
            raw[:, off:off + 2] = s.view(np.uint8).reshape(nb, 2)
        q = raw.reshape(*x.shape[:-1], x.shape[-1] // block * size)
    else:
        q = gguf.quants.quantize(x, qt)
    return q, qt, gguf.quants.dequantize(q, qt).astype(np.float32)


def build_weights(m, rng):
    """GGUF tensors (name -> (raw, raw_dtype)) and HF-layout float64 torch weights."""
    d, H, KV, F, E = m['dim'], m['heads'], m['kv'], m['hidden'], m.get('experts')
    hd = m.get('head_dim', d // H)
    gg, hf = {}, {}

    def put(gname, hname, x, wtype, perm=None):
        if wtype == 'F32' and m.get('hf') and m['wtype'] in ('F16', 'BF16'):
            # the HF folder stores every tensor in one dtype: norms/biases/router (F32 in the GGUF)
            # hold values of that dtype, so both files have the same weights
            x = encode(x, m['wtype'], rng)[2]
        if perm is not None:
            x = permute(x, perm)
        raw, qt, deq = encode(x, wtype, rng)
        if perm is not None:
            deq = unpermute(deq, perm)
        gg[gname] = (raw, qt)
        hf[hname] = torch.tensor(deq.astype(np.float64))

    def rand(*shape, scale=None):
        s = scale if scale is not None else 1 / np.sqrt(shape[-1])
        return rng.standard_normal(shape) * s

    norm = lambda n: 1 + 0.1 * rng.standard_normal(n)
    # tied models: small embeddings (else the current token's own row dominates its logits) and a
    # large final norm to bring the logits back to a useful size
    put('token_embd.weight', 'embed', rand(VOCAB, d, scale=0.15 if m['tied'] else 1.0), m['etype'])
    for i in range(m['layers']):
        b = f'blk.{i}.'
        l = f'l{i}.'
        llama = m['arch'] == 'llama'
        put(b + 'attn_norm.weight', l + 'attn_norm', norm(d), 'F32')
        put(b + 'attn_q.weight', l + 'q', rand(H * hd, d), m['wtype'], H if llama else None)
        put(b + 'attn_k.weight', l + 'k', rand(KV * hd, d), m['wtype'], KV if llama else None)
        put(b + 'attn_v.weight', l + 'v', rand(KV * hd, d), m['wtype'])
        put(b + 'attn_output.weight', l + 'o', rand(d, H * hd), m['wtype'])
        if m['arch'] in ('qwen2', 'qwen2moe'):
            put(b + 'attn_q.bias', l + 'q_bias', rand(H * hd, scale=0.5), 'F32')
            put(b + 'attn_k.bias', l + 'k_bias', rand(KV * hd, scale=0.5), 'F32')
            put(b + 'attn_v.bias', l + 'v_bias', rand(KV * hd, scale=0.5), 'F32')
        if m['arch'] in ('qwen3', 'qwen3moe'):
            put(b + 'attn_q_norm.weight', l + 'q_norm', norm(hd), 'F32')
            put(b + 'attn_k_norm.weight', l + 'k_norm', norm(hd), 'F32')
        put(b + 'ffn_norm.weight', l + 'ffn_norm', norm(d), 'F32')
        if E:
            put(b + 'ffn_gate_inp.weight', l + 'router', rand(E, d, scale=1.0), 'F32')
            put(b + 'ffn_gate_exps.weight', l + 'gate_exps', rand(E, F, d), m['wtype'])
            put(b + 'ffn_up_exps.weight', l + 'up_exps', rand(E, F, d), m['wtype'])
            put(b + 'ffn_down_exps.weight', l + 'down_exps', rand(E, d, F), m['wtype'])
            if m.get('shared'):  # Qwen2-MoE's shared expert, gated by sigmoid(x . w)
                S = m['shared']
                put(b + 'ffn_gate_inp_shexp.weight', l + 'shexp_gate', rand(d), 'F32')
                put(b + 'ffn_gate_shexp.weight', l + 'gate_shexp', rand(S, d), m['wtype'])
                put(b + 'ffn_up_shexp.weight', l + 'up_shexp', rand(S, d), m['wtype'])
                put(b + 'ffn_down_shexp.weight', l + 'down_shexp', rand(d, S), m['wtype'])
        else:
            put(b + 'ffn_gate.weight', l + 'gate', rand(F, d), m['wtype'])
            put(b + 'ffn_up.weight', l + 'up', rand(F, d), m['wtype'])
            put(b + 'ffn_down.weight', l + 'down', rand(d, F), m['wtype'])
    put('output_norm.weight', 'norm', norm(d) * (4 if m['tied'] else 1), 'F32')
    if not m['tied']:
        put('output.weight', 'output', rand(VOCAB, d), m['etype'])
    if m.get('scaling'):
        # llama.cpp's LLaMA-3 form: per-frequency divisors in a rope_freqs tensor
        base = llama3_inv_freq(hd, m['theta'], None)
        gg['rope_freqs.weight'] = ((base / llama3_inv_freq(hd, m['theta'], m['scaling'])).astype(np.float32), None)
    return gg, hf


# ---- the reference forward pass (HF layout, float64) ------------------------------------------


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


INT_DOT = ('Q8_0', 'Q4_0')


def act_q8(x, rows):
    """x with the given rows quantized per block of 32 to int8 as tsgrad's quantizeRows (float32 scale)."""
    x = x.clone()
    for r in rows:
        xr = x[r].to(torch.float32).reshape(-1, 32)
        d = xr.abs().amax(-1, keepdim=True) / 127
        inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)
        q = torch.round(xr * inv)  # float32 product, round half to even
        x[r] = (q.to(torch.float64) * d.to(torch.float64)).reshape(-1)
    return x


def forward(m, W, tokens, qrows=()):
    """Logits of every position; `qrows`: the rows whose inputs to Q8_0/Q4_0 linears are int8-quantized."""
    d, H, KV, E = m['dim'], m['heads'], m['kv'], m.get('experts')
    # the input of a linear over wtype / etype weights (rows in qrows quantized when it is integer)
    wq = (lambda x: act_q8(x, qrows)) if m['wtype'] in INT_DOT else (lambda x: x)
    eq = (lambda x: act_q8(x, qrows)) if m['etype'] in INT_DOT else (lambda x: x)
    hd = m.get('head_dim', d // H)
    eps = m['eps']
    Tn = len(tokens)
    inv = torch.tensor(llama3_inv_freq(hd, m['theta'], m.get('scaling')))
    ang = torch.arange(Tn, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    x = W['embed'][torch.tensor(tokens)]
    mask = torch.full((Tn, Tn), float('-inf')).triu(1)
    for i in range(m['layers']):
        L = lambda n: W[f'l{i}.{n}']
        h = rmsnorm(x, L('attn_norm'), eps)
        hq = wq(h)
        q, k, v = hq @ L('q').T, hq @ L('k').T, hq @ L('v').T
        if m['arch'] in ('qwen2', 'qwen2moe'):
            q, k, v = q + L('q_bias'), k + L('k_bias'), v + L('v_bias')
        q = q.reshape(Tn, H, hd).transpose(0, 1)
        k = k.reshape(Tn, KV, hd).transpose(0, 1)
        v = v.reshape(Tn, KV, hd).transpose(0, 1)
        if m['arch'] in ('qwen3', 'qwen3moe'):
            q, k = rmsnorm(q, L('q_norm'), eps), rmsnorm(k, L('k_norm'), eps)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(hd) + mask, -1) @ v
        x = x + wq(att.transpose(0, 1).reshape(Tn, H * hd)) @ L('o').T
        h = rmsnorm(x, L('ffn_norm'), eps)
        if E:
            logits = h @ L('router').T
            if m['arch'] == 'qwen2moe':  # softmax over all experts, then the top-k (not renormalized)
                probs = torch.softmax(logits, -1)
                wts, idx = probs.topk(m['used'], -1)
            else:  # Mixtral, Qwen3-MoE (norm_topk_prob): top-k logits, softmax over them
                top, idx = logits.topk(m['used'], -1)
                wts = torch.softmax(top, -1)
            out = torch.zeros_like(h)
            for t in range(Tn):
                for j in range(m['used']):
                    e = int(idx[t, j])
                    g = h[t] @ L('gate_exps')[e].T
                    u = h[t] @ L('up_exps')[e].T
                    out[t] += wts[t, j] * ((torch.nn.functional.silu(g) * u) @ L('down_exps')[e].T)
            if m.get('shared'):
                sh = (torch.nn.functional.silu(h @ L('gate_shexp').T) * (h @ L('up_shexp').T)) @ L('down_shexp').T
                out = out + torch.sigmoid(h @ L('shexp_gate'))[:, None] * sh
            x = x + out
        else:
            hq = wq(h)
            x = x + wq(torch.nn.functional.silu(hq @ L('gate').T) * (hq @ L('up').T)) @ L('down').T
    x = rmsnorm(x, W['norm'], eps)
    return eq(x) @ (W['embed'] if m['tied'] else W['output']).T


# ---- writers ---------------------------------------------------------------------------------


def write_gguf(path, m, gg):
    arch = m['arch']
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_name(m['name'])
    w.add_vocab_size(VOCAB)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(m['dim'])
    w.add_block_count(m['layers'])
    w.add_feed_forward_length(m['hidden'])
    w.add_head_count(m['heads'])
    w.add_head_count_kv(m['kv'])
    w.add_layer_norm_rms_eps(m['eps'])
    w.add_rope_freq_base(m['theta'])
    hd = m.get('head_dim', m['dim'] // m['heads'])
    w.add_rope_dimension_count(hd)
    if 'head_dim' in m:
        w.add_key_length(hd)
        w.add_value_length(hd)
    if m.get('experts'):
        w.add_expert_count(m['experts'])
        w.add_expert_used_count(m['used'])
        if arch in ('qwen3moe', 'qwen2moe'):
            w.add_expert_feed_forward_length(m['hidden'])
        if m.get('shared'):
            w.add_expert_shared_feed_forward_length(m['shared'])
    w.add_file_type(0)
    add_tokenizer(w, VOCAB, 'llama' if arch == 'llama' else 'qwen')
    for name, (raw, qt) in gg.items():
        w.add_tensor(name, raw, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_names(m, W):
    """HF tensor names -> float64 torch tensors (expert stacks split per expert)."""
    out = {'model.embed_tokens.weight': W['embed'], 'model.norm.weight': W['norm']}
    if not m['tied']:
        out['lm_head.weight'] = W['output']
    for i in range(m['layers']):
        p = f'model.layers.{i}.'
        L = lambda n: W[f'l{i}.{n}']
        out[p + 'input_layernorm.weight'] = L('attn_norm')
        out[p + 'post_attention_layernorm.weight'] = L('ffn_norm')
        for a in 'qkv':
            out[p + f'self_attn.{a}_proj.weight'] = L(a)
            if m['arch'] == 'qwen2':
                out[p + f'self_attn.{a}_proj.bias'] = L(a + '_bias')
        out[p + 'self_attn.o_proj.weight'] = L('o')
        if m['arch'] in ('qwen3', 'qwen3moe'):
            out[p + 'self_attn.q_norm.weight'] = L('q_norm')
            out[p + 'self_attn.k_norm.weight'] = L('k_norm')
        if m.get('experts'):  # Mixtral's names: w1 gate, w3 up, w2 down, one tensor per expert
            out[p + 'block_sparse_moe.gate.weight'] = L('router')
            for e in range(m['experts']):
                q = p + f'block_sparse_moe.experts.{e}.'
                out[q + 'w1.weight'] = L('gate_exps')[e]
                out[q + 'w3.weight'] = L('up_exps')[e]
                out[q + 'w2.weight'] = L('down_exps')[e]
        else:
            out[p + 'mlp.gate_proj.weight'] = L('gate')
            out[p + 'mlp.up_proj.weight'] = L('up')
            out[p + 'mlp.down_proj.weight'] = L('down')
    return out


def hf_config(m):
    hd = m.get('head_dim', m['dim'] // m['heads'])
    cls = {'llama': 'LlamaForCausalLM', 'qwen2': 'Qwen2ForCausalLM', 'qwen3': 'Qwen3ForCausalLM'}[m['arch']]
    if m.get('experts'):
        cls = 'MixtralForCausalLM'
    c = {
        'architectures': [cls], 'model_type': m['arch'], 'vocab_size': VOCAB, 'hidden_size': m['dim'],
        'intermediate_size': m['hidden'], 'num_hidden_layers': m['layers'], 'num_attention_heads': m['heads'],
        'num_key_value_heads': m['kv'], 'head_dim': hd, 'rms_norm_eps': m['eps'], 'rope_theta': m['theta'],
        'max_position_embeddings': CONTEXT, 'tie_word_embeddings': m['tied'], 'hidden_act': 'silu',
        'torch_dtype': {'F32': 'float32', 'F16': 'float16', 'BF16': 'bfloat16'}[m['wtype']],
    }
    if m.get('experts'):
        c.update(model_type='mixtral', num_local_experts=m['experts'], num_experts_per_tok=m['used'])
    if m.get('scaling'):
        s = m['scaling']
        c['rope_scaling'] = {'rope_type': 'llama3', 'factor': s['factor'], 'low_freq_factor': s['low'],
                             'high_freq_factor': s['high'], 'original_max_position_embeddings': s['orig']}
    return c


def safetensors_bytes(tensors, dtype):
    """Our own safetensors writer (the format is a JSON header + raw little-endian data)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.numpy().astype(np.float32)
        if dtype == 'F32':
            raw = a.tobytes()
        elif dtype == 'F16':
            raw = a.astype(np.float16).tobytes()
        else:  # BF16: the values are bf16 already, so dropping the low half is exact
            raw = (a.view(np.uint32) >> 16).astype(np.uint16).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + b''.join(blobs)


def write_hf(m, W):
    d = os.path.join(OUT, 'hf_' + m['name'])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(hf_config(m), f, indent=2)
    tensors = hf_names(m, W)
    if m['hf'] == 'single':
        with open(os.path.join(d, 'model.safetensors'), 'wb') as f:
            f.write(safetensors_bytes(tensors, m['wtype']))
        return
    names = list(tensors)
    shards = [names[:len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(shards):
        fname = f'model-{i + 1:05d}-of-{len(shards):05d}.safetensors'
        with open(os.path.join(d, fname), 'wb') as f:
            f.write(safetensors_bytes({n: tensors[n] for n in part}, m['wtype']))
        weight_map.update({n: fname for n in part})
    with open(os.path.join(d, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': 0}, 'weight_map': weight_map}, f, indent=2)


def main():
    for seed, m in enumerate(MODELS):
        rng = np.random.default_rng(1700 + seed)
        gg, W = build_weights(m, rng)
        write_gguf(os.path.join(OUT, m['name'] + '.gguf'), m, gg)
        if m.get('hf'):
            write_hf(m, W)
        prompt = [int(t) for t in rng.integers(0, VOCAB, PROMPT_LEN)]
        with torch.no_grad():
            logits = forward(m, W, prompt)
            seq = list(prompt)
            margins = []
            for _ in range(GREEDY):
                last = forward(m, W, seq)[-1]
                top2 = last.topk(2).values
                margins.append(float(top2[0] - top2[1]))
                seq.append(int(last.argmax()))
        fmt = lambda t: [float(f'{v:.6g}') for v in t.reshape(-1).tolist()]
        ref = {
            'model': m['name'] + '.gguf',
            'arch': m['arch'],
            'prompt': prompt,
            'logits': fmt(logits),
            'greedy': seq[len(prompt):],
            'minMargin': min(margins),
        }
        if m['wtype'] in INT_DOT or m['etype'] in INT_DOT:
            with torch.no_grad():
                every = lambda s: range(len(s))
                dec = forward(m, W, prompt, every(prompt))
                seq = list(prompt)
                dmargins = []
                for _ in range(GREEDY):
                    last = forward(m, W, seq, every(seq))[-1]
                    top2 = last.topk(2).values
                    dmargins.append(float(top2[0] - top2[1]))
                    seq.append(int(last.argmax()))
                after = forward(m, W, prompt + seq[len(prompt):len(prompt) + 1], [len(prompt)])[-1]
            ref.update({
                'decodeLogits': fmt(dec),
                'decodeGreedy': seq[len(prompt):],
                'decodeMinMargin': min(dmargins),
                'afterPrefill': fmt(after),
            })
        with open(os.path.join(OUT, m['name'] + '.json'), 'w') as f:
            json.dump(ref, f, separators=(',', ':'))
        print(f"{m['name']}: |logits| max {float(logits.abs().max()):.3g}, greedy margin min {min(margins):.3g}")


if __name__ == '__main__':
    main()
