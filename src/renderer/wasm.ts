// WebAssembly renderer: a linear program -> a WebAssembly module (binary, base64 in the source
// string) with one exported function `k(vars..., buffer byte offsets...)` over an imported memory.
//
// Value representation, chosen so results equal the JS reference renderer's bit for bit:
// - float32, float16, bfloat16 are f32 (JS rounds every half-float result through float32 first,
//   so a half value is an f32 rounded once more by a helper); add, sub, mul, div and sqrt run in
//   f32 (the same as the JS double op rounded to float32); everything JS computes in double and
//   rounds afterwards (transcendentals, pow, fmod, float floor division) runs in f64 here too;
//   exp, log, sin, ... are JS Math imported (the results then match JS exactly). Where the
//   engine has relaxed SIMD, vector code trades that exactness for speed (wasm_simd.ts: fused
//   multiply-adds, float32 exp).
// - int32/uint32/int16/int8/uint16/uint8 and bool are i32, re-wrapped to their width after each op
//   (sign or zero extension); int64 is i64; float64 is f64.
// - int div/mod by 0 give 0 (and INT_MIN / -1 wraps), float->int casts wrap like JS `|0`.

import { type LinearProgram, PANELS_32 } from './target.js'
import { ALU, type Op, Ops, type RangeArg, type UOp } from '../uop/ops.js'
import { kernelVars } from '../uop/sint.js'
import type { Renderer } from './renderer.js'
import { atomic, EMPTY, encodeModule, I32, I64, op } from './wasm_encoder.js'
import { SimdPlan } from './wasm_simd.js'
import { loopPointers } from './wasm_pointers.js'
import {
  CHUNKS_PER_THREAD,
  emitAccUpdate,
  emitAlu,
  emitLoad,
  emitStore,
  KernelCode,
  MAX_FOLDED_OFFSET,
  THREAD_COUNTER,
  valType,
} from './wasm_ops.js'

/** WASM renders every ALU op but erf (decomposed to a polynomial, as for JS). */
const NATIVE: ReadonlySet<Op> = new Set<Op>([...ALU].filter((o) => o !== Ops.ERF))
export interface WasmRenderOptions {
  /** SIMD128 vector loops */
  readonly simd: boolean
  /** relaxed SIMD (fused multiply-add) */
  readonly relaxed: boolean
  /** the memory is shared (imported with the shared flag; threads) */
  readonly shared: boolean
  /** pages the memory may grow to (part of the import's type) */
  readonly maxPages: number
}

/** Base64 of module bytes (the renderer's source string). */
function toBase64(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000))
  return btoa(s)
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** Source-string prefix: what a kernel's src looks like to DEBUG=4 and caches. */
export const WASM_SRC_PREFIX = 'wasm-module:'

export class WasmRenderer implements Renderer {
  readonly name = 'wasm'
  readonly supports = NATIVE
  readonly target
  readonly layout = { ...PANELS_32, packTransposedA: true }
  constructor(readonly opts: WasmRenderOptions) {
    // threads wake through Atomics.notify (tens of microseconds, more on a busy machine), not
    // OpenMP's spinning workers: only kernels of a million iterations or more are split
    this.target = {
      threads: opts.shared,
      vectorWidth: opts.simd ? 4 : 1,
      registers: 16,
      upcastElementwise: opts.simd,
      chainReduces: false,
      threadMinWork: 1 << 20,
    }
  }

  render(name: string, prog: LinearProgram): string {
    return `${WASM_SRC_PREFIX}${name}:${toBase64(this.renderBytes(prog))}`
  }

  renderBytes(prog: LinearProgram): Uint8Array {
    const k = new KernelCode()
    const c = k.code
    // parameters: (thread index, thread count when threaded), variables by name, buffers by index
    // threaded kernels (export `kt`) take their thread index and count first; their arguments
    // travel to workers as int32 (no int64 variables)
    // (an int64 THREAD range, beyond 2^31 iterations, runs on one thread: the threads take chunks
    // from an int32 counter, and a launch does not wait for workers that came too late to help)
    const threaded =
      this.opts.shared &&
      prog.uops.some(
        (u) => u.op === Ops.RANGE && (u.arg as RangeArg).kind === 'thread' && valType(u.dtype) === I32,
      ) &&
      kernelVars(prog.uops).every((v) => valType(v.dtype) === I32)
    let nthreads = -1
    if (threaded) {
      k.params.push(I32) // the thread index: unused, the threads take chunks in any order
      nthreads = k.params.push(I32) - 1
    }
    for (const v of kernelVars(prog.uops)) k.local.set(v, k.params.push(valType(v.dtype)) - 1)
    const globals = prog.uops.filter((u) => u.op === Ops.DEFINE_GLOBAL)
    const nbufs = Math.max(0, ...globals.map((g) => (g.arg as number) + 1))
    const bufParam = k.params.length
    for (let i = 0; i < nbufs; i++) k.params.push(I32)
    for (const g of globals) k.local.set(g, bufParam + (g.arg as number))
    let threadEnd: { range: UOp; hi: number } | undefined
    const pointers = loopPointers(prog.uops, MAX_FOLDED_OFFSET, (u) => valType(u.dtype) === I32)
    const plan = this.opts.simd ? new SimdPlan(prog, this.opts.relaxed) : undefined
    const vec = plan && !plan.empty ? plan : undefined
    const emit = (u: UOp): void => {
      switch (u.op) {
        case Ops.DEFINE_GLOBAL:
        case Ops.DEFINE_VAR:
          return
        case Ops.RANGE: {
          const t = valType(u.dtype)
          const r = k.newLocal(t)
          k.local.set(u, r)
          const end = u.src[0]!
          if ((u.arg as RangeArg).kind === 'thread' && threaded && t === I32) {
            // chunks of n / (T * CHUNKS_PER_THREAD) iterations taken from a shared counter until
            // none is left: a thread that wakes late (a worker's wake-up in a page goes through its
            // event loop) or is descheduled on a busy machine leaves its share to the others,
            // where a fixed split made every thread wait for the slowest
            const [chunk, hi] = [k.newLocal(I32), k.newLocal(I32)]
            k.push(end)
            c.get(nthreads).i32(CHUNKS_PER_THREAD).o(op.i32_mul, op.i32_div_u).tee(chunk)
            c.get(chunk).o(op.i32_eqz, op.i32_add).set(chunk)
            c.o(op.block, EMPTY, op.loop, EMPTY)
            c.i32(0).get(chunk).atomic(atomic.i32_rmw_add, 2, THREAD_COUNTER).tee(r)
            k.push(end)
            c.o(op.i32_ge_s, op.br_if).u32(1)
            // hi = min(r + chunk, n)
            c.get(r).get(chunk).o(op.i32_add).tee(hi)
            k.push(end)
            c.get(hi)
            k.push(end)
            c.o(op.i32_lt_s, op.select).set(hi)
            c.o(op.block, EMPTY, op.loop, EMPTY)
            threadEnd = { range: u, hi }
            return
          }
          if (t === I64) c.i64(0n)
          else c.i32(0)
          c.set(r)
          const planned = pointers.get(u)
          if (planned) k.startPointers(u, planned)
          c.o(op.block, EMPTY)
          if (!(end.op === Ops.CONST && end.constValue > 0)) {
            c.get(r)
            k.push(end)
            c.o(t === I64 ? op.i64_ge_s : op.i32_ge_s, op.br_if).u32(0)
          }
          c.o(op.loop, EMPTY)
          return
        }
        case Ops.ENDRANGE: {
          const rg = u.src[0]!
          const r = k.local.get(rg)!
          const t = valType(rg.dtype)
          k.advancePointers(rg)
          c.get(r)
          if (t === I64) c.i64(1n).o(op.i64_add)
          else c.i32(1).o(op.i32_add)
          c.tee(r)
          if (threadEnd?.range === rg) c.get(threadEnd.hi)
          else k.push(rg.src[0]!)
          c.o(t === I64 ? op.i64_lt_s : op.i32_lt_s, op.br_if).u32(0)
          c.o(op.end, op.end)
          k.endPointers(rg)
          // a chunked THREAD loop: back to take the next chunk
          if (threadEnd?.range === rg) c.o(op.br).u32(0).o(op.end, op.end)
          return
        }
        case Ops.DEFINE_ACC: {
          const l = k.newLocal(valType(u.dtype))
          k.local.set(u, l)
          k.constant((u.arg as { init: number }).init, u.dtype)
          c.set(l)
          return
        }
        case Ops.ACC_UPDATE:
          emitAccUpdate(k, u.arg as string, k.local.get(u.src[0]!)!, u.src[1]!, u.src[0]!.dtype)
          return
        case Ops.REDUCE:
          k.local.set(u, k.local.get(prog.accOf.get(u)!)!)
          return
        case Ops.AFTER:
          if (u.src[0]!.op === Ops.CONST) k.local.set(u, constLocal(k, u.src[0]!))
          else k.local.set(u, k.local.get(u.src[0]!)!)
          return
        case Ops.ACC: {
          const l = k.newLocal(valType(u.dtype))
          c.get(k.local.get(prog.accOf.get(u)!)!).set(l)
          k.local.set(u, l)
          return
        }
        case Ops.LOAD: {
          const l = k.newLocal(valType(u.dtype))
          const gate = u.src[2]
          if (gate) {
            k.push(gate)
            c.o(op.if, valType(u.dtype))
          }
          const off = k.address(u.src[0]!, u.src[1]!, u.dtype)
          emitLoad(k, u.dtype, off)
          if (gate) {
            c.o(op.else)
            k.constant(0, u.dtype)
            c.o(op.end)
          }
          c.set(l)
          k.local.set(u, l)
          return
        }
        case Ops.STORE: {
          const dt = u.src[2]!.dtype
          const off = k.address(u.src[0]!, u.src[1]!, dt)
          k.push(u.src[2]!)
          emitStore(k, dt, off)
          return
        }
        default: {
          if (!ALU.has(u.op)) throw new Error(`WASM renderer: unexpected ${u.op}`)
          emitAlu(k, u)
          const l = k.newLocal(valType(u.dtype))
          c.set(l)
          k.local.set(u, l)
        }
      }
    }
    for (const u of prog.uops) {
      if (vec) {
        if (u.op === Ops.ENDRANGE) vec.exitLoop()
        if (u.op === Ops.REDUCE && vec.reduceLane(k, u)) continue
        if (vec.skips(u)) {
          vec.emitAfter(k, u)
          continue
        }
      }
      emit(u)
      if (vec) {
        if (u.op === Ops.RANGE) vec.enterLoop()
        vec.emitAfter(k, u)
      }
    }

    const imports = k.importList
    return encodeModule(
      {
        module: 'env',
        name: 'mem',
        initial: 1,
        maximum: this.opts.shared ? this.opts.maxPages : undefined,
        shared: this.opts.shared,
      },
      imports,
      [{ type: { params: k.params, results: [] }, locals: k.locals, body: c, export: threaded ? 'kt' : 'k' }],
    )
  }
}

/** A local holding a constant (an AFTER of a constant index needs a name). */
function constLocal(k: KernelCode, u: UOp): number {
  const l = k.newLocal(valType(u.dtype))
  k.push(u)
  k.code.set(l)
  return l
}
