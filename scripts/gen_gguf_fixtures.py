#!/usr/bin/env python3
"""Writes the GGUF test fixtures under test/fixtures/gguf/ with gguf-py (llama.cpp's Python
package, the reference for the format and for dequantization):

  python3 -m venv --system-site-packages /tmp/ggvenv && /tmp/ggvenv/bin/pip install gguf
  /tmp/ggvenv/bin/python scripts/gen_gguf_fixtures.py

types.gguf      one tensor per supported type. Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/BF16 are quantized by
                gguf-py from seeded random values (plus hand-made edge blocks); Q4_K/Q5_K/Q6_K
                (gguf-py has no quantizer for them) are random block bytes with finite f16 scales.
types.json      per tensor: type, logical shape, expected float32 bits (gguf.quants.dequantize).
meta.gguf       metadata of every value type (nested arrays of strings included), alignment 64.
meta_v2.gguf    the same bytes with version 2 (v2 and v3 differ only in v3 allowing big-endian).
meta_be.gguf    a big-endian file (must be rejected).
meta.json       the metadata written, with types, and the tensors of meta.gguf.
quant.json      float32 inputs and gguf-py's Q8_0/Q4_0 bytes for them (our quantizers must match).
"""
import json
import os
import struct

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'gguf')
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(16)


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).reshape(-1).tolist()


def edge_values(n):
    """Blocks that stress the quantizers: zeros, -0, ties, one big value, negative maxima."""
    x = rng.standard_normal(n).astype(np.float32)
    x[:32] = 0
    x[32:64] = np.linspace(-1, 1, 32, dtype=np.float32)
    x[64:96] = np.float32(-0.0)
    x[96:128] = (np.arange(32, dtype=np.float32) - 15.5) / 2  # halves
    x[128] = 1e4
    x[160:192] = -np.abs(x[160:192])
    return x


def write(path, build, endianess=gguf.GGUFEndian.LITTLE):
    w = gguf.GGUFWriter(path, arch='tsgrad-test', endianess=endianess)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gen_types():
    expected = {}
    tensors = []

    def quantized(name, qtype, shape, values=None):
        x = values if values is not None else rng.standard_normal(shape).astype(np.float32)
        q = gguf.quants.quantize(x.reshape(shape), qtype)
        tensors.append((name, q, qtype))
        expected[name] = {'type': qtype.name, 'shape': list(shape), 'bits': bits(gguf.quants.dequantize(q, qtype))}

    def random_blocks(name, qtype, shape, f16_offsets):
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        nb = int(np.prod(shape)) // block
        raw = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
        for off in f16_offsets:  # finite scales of moderate size
            s = (rng.standard_normal(nb) * 0.05).astype(np.float16)
            raw[:, off:off + 2] = s.view(np.uint8).reshape(nb, 2)
        q = raw.reshape(shape[:-1] + [shape[-1] // block * size])
        tensors.append((name, q, qtype))
        expected[name] = {'type': qtype.name, 'shape': list(shape), 'bits': bits(gguf.quants.dequantize(q, qtype))}

    f32 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    tensors.append(('f32', f32, None))
    expected['f32'] = {'type': 'F32', 'shape': [2, 3, 4], 'bits': bits(f32)}
    f16 = rng.standard_normal((5, 7)).astype(np.float16)
    f16[0, :3] = [np.inf, -0.0, 6.1e-5]  # inf, signed zero, a subnormal
    tensors.append(('f16', f16, None))
    expected['f16'] = {'type': 'F16', 'shape': [5, 7], 'bits': bits(f16.astype(np.float32))}
    quantized('bf16', T.BF16, [4, 6])
    quantized('q8_0', T.Q8_0, [8, 64], edge_values(512))
    quantized('q8_0_3d', T.Q8_0, [2, 3, 32])
    quantized('q4_0', T.Q4_0, [8, 64], edge_values(512))
    quantized('q4_1', T.Q4_1, [8, 64], edge_values(512))
    quantized('q5_0', T.Q5_0, [8, 64], edge_values(512))
    quantized('q5_1', T.Q5_1, [8, 64], edge_values(512))
    random_blocks('q4_k', T.Q4_K, [3, 256], [0, 2])
    random_blocks('q5_k', T.Q5_K, [2, 512], [0, 2])
    random_blocks('q6_k', T.Q6_K, [3, 256], [208])

    def build(w):
        w.add_uint32('test.seed', 16)
        for name, data, qtype in tensors:
            w.add_tensor(name, data, raw_dtype=qtype)

    write(os.path.join(OUT, 'types.gguf'), build)
    with open(os.path.join(OUT, 'types.json'), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))


def gen_meta():
    # (key, value, type, element type): every scalar type, arrays of each, nested string arrays
    entries = [
        ('u8', 200, V.UINT8, None),
        ('i8', -100, V.INT8, None),
        ('u16', 60000, V.UINT16, None),
        ('i16', -30000, V.INT16, None),
        ('u32', 4000000000, V.UINT32, None),
        ('i32', -2000000000, V.INT32, None),
        ('f32', 0.1, V.FLOAT32, None),
        ('f64', 0.1, V.FLOAT64, None),
        ('u64', 18446744073709551615, V.UINT64, None),
        ('i64', -9223372036854775808, V.INT64, None),
        ('b_true', True, V.BOOL, None),
        ('b_false', False, V.BOOL, None),
        ('str', 'héllo ✓ "quoted"', V.STRING, None),
        ('arr.u8', [0, 255, 7], V.ARRAY, V.UINT8),
        ('arr.i8', [-128, 127], V.ARRAY, V.INT8),
        ('arr.u16', [1, 65535], V.ARRAY, V.UINT16),
        ('arr.i16', [-32768, 5], V.ARRAY, V.INT16),
        ('arr.u32', [1, 4294967295], V.ARRAY, V.UINT32),
        ('arr.i32', [-1, 2, -3], V.ARRAY, V.INT32),
        ('arr.f32', [0.5, -1.25, 3e38], V.ARRAY, V.FLOAT32),
        ('arr.f64', [0.1, -2.5e300], V.ARRAY, V.FLOAT64),
        ('arr.u64', [0, 18446744073709551615], V.ARRAY, V.UINT64),
        ('arr.i64', [-9223372036854775808, 42], V.ARRAY, V.INT64),
        ('arr.bool', [True, False, True], V.ARRAY, V.BOOL),
        ('arr.str', ['a', '', 'ünï'], V.ARRAY, V.STRING),
        ('arr.nested', [['x', 'y'], ['z'], ['']], V.ARRAY, V.ARRAY),
    ]
    w_tensor = rng.standard_normal((3, 5)).astype(np.float32)
    q = gguf.quants.quantize(rng.standard_normal((2, 64)).astype(np.float32), T.Q8_0)

    def build(w):
        w.add_custom_alignment(64)
        for key, val, vtype, sub in entries:
            w.add_key_value(key, val, vtype, sub_type=sub)
        w.add_tensor('w', w_tensor)
        w.add_tensor('q', q, raw_dtype=T.Q8_0)

    path = os.path.join(OUT, 'meta.gguf')
    write(path, build)
    data = bytearray(open(path, 'rb').read())
    data[4:8] = struct.pack('<I', 2)
    open(os.path.join(OUT, 'meta_v2.gguf'), 'wb').write(bytes(data))
    write(os.path.join(OUT, 'meta_be.gguf'), build, gguf.GGUFEndian.BIG)

    def jsonable(v, t):
        if t in (V.FLOAT32,):
            return {'f32bits': bits(np.array([v]))[0]}
        if t == V.FLOAT64:
            return {'f64': repr(float(v))}
        if t in (V.UINT64, V.INT64):
            return {'bigint': str(v)}
        return v

    meta = {}
    for key, val, vtype, sub in entries:
        if vtype == V.ARRAY:
            tname = f'ARRAY[{sub.name}]'
            value = [jsonable(x, sub) for x in val]
        else:
            tname = vtype.name
            value = jsonable(val, vtype)
        meta[key] = {'type': tname, 'value': value}
    out = {
        'metadata': meta,
        'tensors': {
            'w': {'type': 'F32', 'shape': [3, 5], 'bits': bits(w_tensor)},
            'q': {'type': 'Q8_0', 'shape': [2, 64], 'bits': bits(gguf.quants.dequantize(q, T.Q8_0))},
        },
    }
    # the reader of the reference agrees on the alignment and the tensor offsets
    r = gguf.GGUFReader(path)
    assert r.alignment == 64
    out['dataStart'] = int(r.data_offset)
    with open(os.path.join(OUT, 'meta.json'), 'w') as f:
        json.dump(out, f, ensure_ascii=False, indent=0)


def gen_quant():
    cases = {}
    for name, x in [
        ('normal', rng.standard_normal(32 * 16).astype(np.float32)),
        ('edges', edge_values(512)),
        ('wide', (rng.standard_normal(32 * 8) * np.float32(1e3)).astype(np.float32)),
        ('tiny', (rng.standard_normal(32 * 4) * np.float32(1e-6)).astype(np.float32)),
    ]:
        cases[name] = {
            'x': bits(x),
            'Q8_0': gguf.quants.quantize(x.reshape(-1, 32), T.Q8_0).reshape(-1).tobytes().hex(),
            'Q4_0': gguf.quants.quantize(x.reshape(-1, 32), T.Q4_0).reshape(-1).tobytes().hex(),
        }
    with open(os.path.join(OUT, 'quant.json'), 'w') as f:
        json.dump(cases, f, separators=(',', ':'))


gen_types()
gen_meta()
gen_quant()
print('wrote', sorted(os.listdir(OUT)))
