// A small WebAssembly binary encoder: LEB128 numbers, a byte buffer for function bodies, opcodes,
// and the module layout (types, imports, functions, exports, code). Only what the WASM renderer
// needs; no text format, no validation (WebAssembly.Module validates what we produce).

/** Value types. */
export const I32 = 0x7f
export const I64 = 0x7e
export const F32 = 0x7d
export const F64 = 0x7c
export const V128 = 0x7b
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128
/** block type of a block that yields nothing */
export const EMPTY = 0x40

/** Single-byte opcodes by name (MVP, sign extension). */
export const op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  i32_load: 0x28,
  i64_load: 0x29,
  f32_load: 0x2a,
  f64_load: 0x2b,
  i32_load8_s: 0x2c,
  i32_load8_u: 0x2d,
  i32_load16_s: 0x2e,
  i32_load16_u: 0x2f,
  i32_store: 0x36,
  i64_store: 0x37,
  f32_store: 0x38,
  f64_store: 0x39,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i32_const: 0x41,
  i64_const: 0x42,
  f32_const: 0x43,
  f64_const: 0x44,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i32_le_s: 0x4c,
  i32_le_u: 0x4d,
  i32_ge_s: 0x4e,
  i32_ge_u: 0x4f,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_ge_s: 0x59,
  f32_eq: 0x5b,
  f32_ne: 0x5c,
  f32_lt: 0x5d,
  f32_gt: 0x5e,
  f64_eq: 0x61,
  f64_ne: 0x62,
  f64_lt: 0x63,
  f64_gt: 0x64,
  f64_ge: 0x66,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_rem_s: 0x81,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_u: 0x88,
  i64_shr_s: 0x87,
  f32_abs: 0x8b,
  f32_neg: 0x8c,
  f32_trunc: 0x8f,
  f32_sqrt: 0x91,
  f32_add: 0x92,
  f32_sub: 0x93,
  f32_mul: 0x94,
  f32_div: 0x95,
  f32_min: 0x96,
  f32_max: 0x97,
  f64_abs: 0x99,
  f64_neg: 0x9a,
  f64_floor: 0x9c,
  f64_nearest: 0x9e,
  f64_trunc: 0x9d,
  f64_sqrt: 0x9f,
  f64_add: 0xa0,
  f64_sub: 0xa1,
  f64_mul: 0xa2,
  f64_div: 0xa3,
  f64_min: 0xa4,
  f64_max: 0xa5,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i64_trunc_f64_s: 0xb0,
  f32_convert_i32_s: 0xb2,
  f32_convert_i32_u: 0xb3,
  f32_demote_f64: 0xb6,
  f64_convert_i32_s: 0xb7,
  f64_convert_i32_u: 0xb8,
  f64_convert_i64_s: 0xb9,
  f64_promote_f32: 0xbb,
  i32_reinterpret_f32: 0xbc,
  i64_reinterpret_f64: 0xbd,
  f32_reinterpret_i32: 0xbe,
  f64_reinterpret_i64: 0xbf,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
} as const

/** 0xFC-prefixed opcodes (saturating truncation). */
export const fc = { i64_trunc_sat_f64_s: 6, i64_trunc_sat_f64_u: 7 } as const

/** 0xFE-prefixed opcodes (threads). */
export const atomic = {
  i32_rmw_add: 0x1e,
} as const

/** 0xFD-prefixed opcodes (SIMD128 and relaxed SIMD). */
export const simd = {
  v128_load: 0x00,
  v128_load32_splat: 0x09,
  v128_store: 0x0b,
  v128_const: 0x0c,
  i8x16_shuffle: 0x0d,
  f64x2_splat: 0x14,
  f32x4_demote_f64x2_zero: 0x5e,
  f64x2_promote_low_f32x4: 0x5f,
  f64x2_nearest: 0x94,
  i64x2_extend_low_i32x4_s: 0xc7,
  i64x2_shl: 0xcb,
  i64x2_add: 0xce,
  f64x2_add: 0xf0,
  f64x2_sub: 0xf1,
  f64x2_mul: 0xf2,
  f64x2_min: 0xf4,
  f64x2_max: 0xf5,
  i32x4_trunc_sat_f64x2_s_zero: 0xfc,
  i32x4_splat: 0x11,
  f32x4_splat: 0x13,
  i32x4_extract_lane: 0x1b,
  f32x4_extract_lane: 0x1f,
  f32x4_replace_lane: 0x20,
  i32x4_replace_lane: 0x1c,
  i32x4_neg: 0xa1,
  i32x4_eq: 0x37,
  i32x4_ne: 0x38,
  i32x4_lt_s: 0x39,
  i32x4_lt_u: 0x3a,
  i32x4_gt_s: 0x3b,
  i32x4_gt_u: 0x3c,
  f32x4_eq: 0x41,
  f32x4_ne: 0x42,
  f32x4_lt: 0x43,
  f32x4_gt: 0x44,
  v128_not: 0x4d,
  v128_and: 0x4e,
  v128_andnot: 0x4f,
  v128_or: 0x50,
  v128_xor: 0x51,
  v128_bitselect: 0x52,
  i32x4_shl: 0xab,
  i32x4_shr_s: 0xac,
  i32x4_shr_u: 0xad,
  i32x4_add: 0xae,
  i32x4_sub: 0xb1,
  i32x4_mul: 0xb5,
  i32x4_min_s: 0xb6,
  i32x4_min_u: 0xb7,
  i32x4_max_s: 0xb8,
  i32x4_max_u: 0xb9,
  f32x4_abs: 0xe0,
  f32x4_neg: 0xe1,
  f32x4_sqrt: 0xe3,
  f32x4_add: 0xe4,
  f32x4_sub: 0xe5,
  f32x4_mul: 0xe6,
  f32x4_div: 0xe7,
  f32x4_min: 0xe8,
  f32x4_max: 0xe9,
  /** b < a ? b : a (one minps; f32x4.min's NaN and -0 rules cost V8 seven instructions) */
  f32x4_pmin: 0xea,
  /** a < b ? b : a */
  f32x4_pmax: 0xeb,
  f32x4_trunc: 0x69,
  f32x4_nearest: 0x6a,
  i32x4_trunc_sat_f32x4_s: 0xf8,
  f32x4_convert_i32x4_s: 0xfa,
  f32x4_relaxed_madd: 0x105,
} as const

/** A growable byte buffer with the encodings a module needs. */
export class Bytes {
  private buf = new Uint8Array(256)
  length = 0

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n))
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }
  byte(b: number): this {
    this.reserve(1)
    this.buf[this.length++] = b
    return this
  }
  bytes(bs: ArrayLike<number>): this {
    this.reserve(bs.length)
    this.buf.set(bs, this.length)
    this.length += bs.length
    return this
  }
  /** unsigned LEB128 (up to 2^53) */
  u32(v: number): this {
    do {
      let b = v % 128
      v = Math.floor(v / 128)
      if (v) b |= 0x80
      this.byte(b)
    } while (v)
    return this
  }
  /** signed LEB128 of a bigint (i64 immediates) */
  sleb(v: bigint): this {
    for (;;) {
      const b = Number(v & 0x7fn)
      v >>= 7n
      const done = (v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)
      this.byte(done ? b : b | 0x80)
      if (done) return this
    }
  }
  f32(v: number): this {
    const d = new DataView(new ArrayBuffer(4))
    d.setFloat32(0, v, true)
    return this.bytes(new Uint8Array(d.buffer))
  }
  f64(v: number): this {
    const d = new DataView(new ArrayBuffer(8))
    d.setFloat64(0, v, true)
    return this.bytes(new Uint8Array(d.buffer))
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s)
    return this.u32(b.length).bytes(b)
  }
  /** a length-prefixed vector of already encoded items */
  sized(inner: Bytes): this {
    return this.u32(inner.length).bytes(inner.view())
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length)
  }
}

/** Instruction encoders on top of Bytes, for function bodies. */
export class Code extends Bytes {
  o(...ops: number[]): this {
    for (const x of ops) this.byte(x)
    return this
  }
  get(local: number): this {
    return this.byte(op.local_get).u32(local)
  }
  set(local: number): this {
    return this.byte(op.local_set).u32(local)
  }
  tee(local: number): this {
    return this.byte(op.local_tee).u32(local)
  }
  i32(v: number): this {
    return this.byte(op.i32_const).sleb(BigInt(v | 0))
  }
  i64(v: bigint): this {
    return this.byte(op.i64_const).sleb(BigInt.asIntN(64, v))
  }
  f32c(v: number): this {
    return this.byte(op.f32_const).f32(v)
  }
  f64c(v: number): this {
    return this.byte(op.f64_const).f64(v)
  }
  /** a load or store with its memarg (alignment as log2 bytes, constant byte offset) */
  mem(opcode: number, alignLog2: number, offset = 0): this {
    return this.byte(opcode).u32(alignLog2).u32(offset)
  }
  call(fn: number): this {
    return this.byte(op.call).u32(fn)
  }
  fc(sub: number): this {
    return this.byte(0xfc).u32(sub)
  }
  v(sub: number): this {
    return this.byte(0xfd).u32(sub)
  }
  /** a SIMD load/store with its memarg */
  vmem(sub: number, alignLog2: number, offset = 0): this {
    return this.v(sub).u32(alignLog2).u32(offset)
  }
  /** a 0xFE-prefixed atomic memory op (threads) with its memarg */
  atomic(sub: number, alignLog2: number, offset = 0): this {
    return this.byte(0xfe).u32(sub).u32(alignLog2).u32(offset)
  }
}

export interface FuncType {
  params: readonly ValType[]
  results: readonly ValType[]
}

export interface FuncImport {
  module: string
  name: string
  type: FuncType
}

export interface FuncDef {
  type: FuncType
  /** locals after the parameters, in order */
  locals: readonly ValType[]
  body: Code
  export?: string
}

export interface MemoryImport {
  module: string
  name: string
  /** in 64 KiB pages */
  initial: number
  maximum?: number
  shared: boolean
}

function section(out: Bytes, id: number, content: Bytes): void {
  out.byte(id).sized(content)
}

/**
 * A module: imported memory, imported functions (indices 0..n-1), then defined functions (indices
 * n..). Each function body ends with `end` (added here).
 */
export function encodeModule(
  memory: MemoryImport,
  imports: readonly FuncImport[],
  funcs: readonly FuncDef[],
): Uint8Array {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
  const typeKeys: string[] = []
  const typeIndex = (t: FuncType): number => {
    const k = `${t.params.join(',')}>${t.results.join(',')}`
    let i = typeKeys.indexOf(k)
    if (i < 0) i = typeKeys.push(k) - 1
    return i
  }
  const importTypes = imports.map((f) => typeIndex(f.type))
  const funcTypes = funcs.map((f) => typeIndex(f.type))
  const types = new Bytes().u32(typeKeys.length)
  for (const k of typeKeys) {
    const [p, r] = k.split('>') as [string, string]
    const ps = p ? p.split(',').map(Number) : []
    const rs = r ? r.split(',').map(Number) : []
    types.byte(0x60).u32(ps.length).bytes(ps).u32(rs.length).bytes(rs)
  }
  section(out, 1, types)
  const imp = new Bytes().u32(imports.length + 1)
  imp.str(memory.module).str(memory.name).byte(0x02)
  if (memory.maximum === undefined) imp.byte(0x00).u32(memory.initial)
  else
    imp
      .byte(memory.shared ? 0x03 : 0x01)
      .u32(memory.initial)
      .u32(memory.maximum)
  imports.forEach((f, i) => {
    imp.str(f.module).str(f.name).byte(0x00).u32(importTypes[i]!)
  })
  section(out, 2, imp)
  const fn = new Bytes().u32(funcs.length)
  for (const t of funcTypes) fn.u32(t)
  section(out, 3, fn)
  const exported = funcs.map((f, i) => ({ name: f.export, index: imports.length + i })).filter((e) => e.name)
  const ex = new Bytes().u32(exported.length)
  for (const e of exported) ex.str(e.name!).byte(0x00).u32(e.index)
  section(out, 7, ex)
  const code = new Bytes().u32(funcs.length)
  for (const f of funcs) {
    const body = new Bytes()
    // locals as runs of equal types
    const runs: [number, ValType][] = []
    for (const t of f.locals) {
      const last = runs.at(-1)
      if (last && last[1] === t) last[0]++
      else runs.push([1, t])
    }
    body.u32(runs.length)
    for (const [n, t] of runs) body.u32(n).byte(t)
    body.bytes(f.body.view()).byte(op.end)
    code.sized(body)
  }
  section(out, 10, code)
  return out.view().slice()
}
