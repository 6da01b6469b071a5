// The decoder-only transformer behind every supported family (LLaMA 1/2/3, Qwen2/2.5, Qwen3,
// Mixtral-style MoE), as a ModelRunner over one sequence's KV cache.
//
// Per layer: RMS norm, q/k/v projections (+ Qwen2's biases), Qwen3's per-head RMS norm of q and k,
// rope (llama.cpp's 'normal' layout for GGUF llama weights, whose q/k rows it permuted; 'neox'
// otherwise), grouped-query attention over the cache, the output projection, RMS norm and the
// SiLU-gated MLP (or the experts, ./model_moe.ts). Weights stay in their file's type: a quantized
// weight is a lazy dequantization graph that fuses into the matmul reading it, except that Q8_0 and
// Q4_0 products are integer ones by default (int8 x: a matvec per token, a matmul per prompt).
//
// A one-token step is jitted with the position as a bound Variable: one capture replays every
// decode position (no compile, no graph build). Longer steps (prefill) run eagerly in chunks.
import { eventLoopTurn, TsgradError } from '../helpers.js'
import type { TypedArray } from '../dtype.js'
import { Ops } from '../uop/ops.js'
import { KVCache } from '../nn/kv_cache.js'
import { jit } from '../tensor/jit.js'
import { type sint, Tensor, Variable } from '../tensor/index.js'
import { ropeFrequencies } from '../tensor/rope.js'
import { moeDecode, moeDense } from './model_moe.js'
import {
  INT_DOT_TYPES,
  type MatvecEpilogue,
  type QuantizedRows,
  quantizeRows,
  quantMatvec,
  type RowNorm,
} from '../nn/quant_matvec.js'
import {
  linearRowsKey,
  type QuantPanels,
  quantizeForLinear,
  quantMatmulFits,
  quantPanels,
  quantRowsLinear,
} from '../nn/quant_matmul.js'
import { gatherRows, type QuantBlocks } from './rows.js'
import type { LLMConfig, ModelRunner } from './types.js'
import type { LayerWeights, ModelWeights } from './weights.js'

export interface TransformerOptions {
  /** KV cache length (default: the trained context, at most 4096) */
  maxContext?: number
  /**
   * a prompt's layers run over it in chunks of this many tokens (default 256: the chunk's
   * temporaries grow with it, attention's scores as chunk x context; 128 took ~5% more CPU for a
   * 512-token prompt of a LLaMA-1B shape, 512 no less than 256)
   */
  prefillChunk?: number
  /**
   * the KV cache's element type (default 'f16', as llama.cpp's: half the memory of 'f32', 67 MB
   * of a LLaMA-1B cache of 2048; the attention kernels convert whole vectors of halves, so a decode
   * step at 512 positions takes 1.02x the CPU of an f32 cache and a 512-token prompt 0.96x). The
   * keys and values are rounded to float16: logits move by up to ~6e-4 of their largest (1.5e-2
   * where the int8 activations of integer products round differently)
   */
  kvDtype?: 'f32' | 'f16'
  /** products with Q8_0/Q4_0 weights (one-token steps and prompts) as integer dot products (default true; linearsOf) */
  intDot?: boolean
}

const f32 = (t: Tensor): Tensor => (t.dtype.name === 'float32' ? t : t.cast('float32'))

/**
 * A kernel boundary: a prompt's (T > 1) as a buffer of the layer's one schedule (`contiguous`), a
 * one-token step's realized at once (the jit captures those). Realized one by one, a prompt's
 * activations (up to T x hidden floats each) were tensors the GC frees: a 512-token prefill of a
 * LLaMA-1B shape held ~0.7 GB of them, as a prefill never yields; as a schedule's temporaries they
 * go back to the pool when the layer is done, and the schedule reuses their slots within it.
 */
const cut = (t: Tensor, T: number): Tensor => (T > 1 ? (kernelOutput(t) ? t : t.contiguous()) : t.realize())

/** A custom kernel's output (an integer matmul's), maybe reshaped: a buffer of the schedule already. */
function kernelOutput(t: Tensor): boolean {
  let u = t.uop
  while (u.op === Ops.RESHAPE) u = u.src[0]!
  return u.op === Ops.CUSTOM_KERNEL
}

function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = x.matmul(f32(w).T)
  return b ? y.add(f32(b)) : y
}

/** What follows a projection: `silu(gate) * y` (an MLP's up), `residual + y` (attention's and the MLP's output). */
interface After {
  gate?: Tensor
  residual?: Tensor
}
type Linear = (w: Tensor, b?: Tensor, after?: After) => Tensor

/** bias, gate and residual in the integer matvec's kernel, as the float path fuses them */
function epilogueOf(N: number, b: Tensor | undefined, { gate, residual }: After): MatvecEpilogue | undefined {
  // (1, N) or a prompt's (T, N)
  const row = (t: Tensor) => f32(t).reshape([(t.shape as number[]).reduce((a, d) => a * d, 1) / N, N])
  const inputs = [b, gate, residual].filter((t): t is Tensor => t !== undefined).map(row)
  if (!inputs.length) return undefined
  return {
    inputs,
    fn: (y, vs) => {
      let i = 0
      if (b) y = y.add(vs[i++]!)
      if (gate) {
        const g = vs[i++]!
        y = g.mul(g.neg().alu(Ops.EXP).add(1).alu(Ops.RECIP)).mul(y)
      }
      return residual ? vs[i]!.add(y) : y
    },
  }
}

/**
 * A one-token step's residual row and the RMS norm the projections read it through: the integer
 * products' quantizer applies the norm in its kernel (a kernel of its own before: 2 launches per
 * layer); anything else reads `normed()`, realized once.
 */
class NormedRow {
  private value: Tensor | undefined
  constructor(
    /** (1, 1, dim), realized */
    readonly raw: Tensor,
    readonly norm: RowNorm,
  ) {}

  normed(): Tensor {
    this.value ??= this.raw.rmsnorm(-1, this.norm.eps).mul(this.norm.weight).realize()
    return this.value
  }
}

/**
 * `linear` over one input x (1, T, dim), or a one-token step's row through its norm. A Q8_0/Q4_0 weight takes integer products with llama.cpp's
 * numerics (x rounded to int8 per block of 32): for one token (decode) the matvec
 * (nn/quant_matvec.ts), for a prompt the matmul over 16-column panels (nn/quant_matmul.ts). x is
 * quantized once per layout, so q/k/v (and gate/up) share it.
 */
function linearsOf(
  input: Tensor | NormedRow,
  blocks: ReadonlyMap<Tensor, QuantBlocks> | undefined,
  panels?: ReadonlyMap<Tensor, QuantPanels>,
): Linear {
  const row = input instanceof NormedRow ? input : undefined
  const x0 = row ? row.raw : (input as Tensor)
  const [, T, dim] = x0.shape as [number, number, number]
  const rows = new Map<string, QuantizedRows>()
  return (w, b, after = {}) => {
    const q = blocks?.get(w)
    const type = q?.type.name
    if (!q || type === undefined || !INT_DOT_TYPES.has(type)) {
      const x = row ? row.normed() : x0
      let y = linear(x, w, b)
      // (the gated product stays lazy: the down projection reads it, as before the epilogues)
      if (after.gate) y = after.gate.silu().mul(cut(y, T))
      // a prompt's projection is a kernel boundary before the residual add: fused into a register-tiled
      // matmul, the add (a load along both output axes) keeps gcc from vectorizing the tile, 16x
      // slower (r_128_2048_8192: 345 ms against 22 ms; test/core/optimizer.test.ts has the case)
      return after.residual ? after.residual.add(T > 1 ? y.contiguous() : y) : y
    }
    const t = type as QuantizedRows['type']
    const N = w.shape[0]!
    if (T > 1) {
      const key = linearRowsKey(t, N)
      let xq = rows.get(key)
      if (!xq) {
        const x = row ? row.normed() : x0
        xq = quantizeForLinear(x.reshape([T, dim]), t, N)
        // an input realized already (the attention's norm): its rows too, at once, or q, k and v
        // (k and v realized by their cache writes) quantized it again each
        if (x.uop.contiguousBase) Tensor.realize(...[xq.q, xq.scale, xq.sum].filter((u) => u !== undefined))
        rows.set(key, xq)
      }
      return quantRowsLinear(xq, T, q.blocks, q.type, N, epilogueOf(N, b, after), panels?.get(w)).reshape([
        1,
        T,
        N,
      ])
    }
    let xq = rows.get(t)
    if (!xq) {
      // realized at once: left lazy, each matvec reading it would quantize x again (with its lanes'
      // offsets: read by every matvec instead of a second dot product per row)
      xq = quantizeRows(x0.reshape([1, dim]), t, 8, false, true, row?.norm)
      Tensor.realize(...[xq.q, xq.scale, xq.laneOffset].filter((u) => u !== undefined))
      rows.set(t, xq)
    }
    // realized before the reshape: a reshaped custom kernel output was copied by another kernel
    return quantMatvec(xq, q.blocks, q.type, N, epilogueOf(N, b, after))
      .realize()
      .reshape([1, 1, N])
  }
}

/** rope inverse frequencies: theta^(-2i/d), LLaMA-3 rescaled (HF config) or divided by rope_freqs (GGUF) */
function inverseFrequencies(c: LLMConfig, ropeFreqs: Tensor | undefined): Float64Array {
  const s = c.ropeScaling
  const inv = ropeFrequencies(
    c.headDim,
    c.ropeTheta,
    s && {
      factor: s.factor,
      lowFreqFactor: s.lowFreqFactor,
      highFreqFactor: s.highFreqFactor,
      originalMaxPositions: s.originalMaxPos,
    },
  )
  if (ropeFreqs) {
    const div = ropeFreqs.cast('float32').dataSync() as Float32Array
    for (let i = 0; i < inv.length; i++) inv[i]! /= div[i]!
  }
  return inv
}

/**
 * The logits read back (float32: a copy the caller owns already). Copied again, a decode step's
 * 128256 logits took a second fresh 0.5 MB array per token: 125 page faults, 1.6-2 ms of a 25 ms
 * step on this VM (~13 us a fault), on top of the read's own copy.
 */
const logitsOf = (d: TypedArray): Float32Array =>
  d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>)

export class Transformer implements ModelRunner {
  readonly maxContext: number
  /** the KV cache's element type */
  readonly kvDtype: 'f32' | 'f16'
  private readonly caches: KVCache[]
  private readonly cos: Tensor
  private readonly sin: Tensor
  private readonly chunk: number
  private readonly pos: ReturnType<typeof Variable>
  private readonly decode: (tok: Tensor, sp: sint) => Tensor
  /** the quantized weights' blocks for the integer matvecs (none: float32 products) */
  private readonly intBlocks: ReadonlyMap<Tensor, QuantBlocks> | undefined

  constructor(
    readonly config: LLMConfig,
    private readonly w: ModelWeights,
    readonly weightBytes: number,
    opts: TransformerOptions = {},
  ) {
    const c = config
    const max = opts.maxContext ?? Math.min(c.contextLength, 4096)
    if (!(Number.isInteger(max) && max >= 2))
      throw new TsgradError(`llm model: maxContext must be an integer >= 2, got ${opts.maxContext}`)
    this.maxContext = max
    if (opts.intDot !== undefined && typeof opts.intDot !== 'boolean')
      throw new TsgradError(`llm model: intDot must be a boolean, got ${String(opts.intDot)}`)
    this.intBlocks = opts.intDot === false ? undefined : w.blocks
    this.chunk = opts.prefillChunk ?? 256
    if (!(Number.isInteger(this.chunk) && this.chunk >= 1))
      throw new TsgradError(`llm model: prefillChunk must be a positive integer, got ${opts.prefillChunk}`)
    const device = w.embed.device
    const kv = opts.kvDtype ?? 'f16'
    if (kv !== 'f32' && kv !== 'f16')
      throw new TsgradError(`llm model: kvDtype must be 'f32' or 'f16', got ${JSON.stringify(opts.kvDtype)}`)
    this.kvDtype = kv
    const dtype = kv === 'f16' ? 'float16' : 'float32'
    this.caches = Array.from(
      { length: c.layers },
      () => new KVCache(1, c.kvHeads, max, c.headDim, { dtype, device }),
    )
    const inv = inverseFrequencies(c, w.ropeFreqs)
    const h = c.headDim / 2
    const cos = new Float32Array(max * h)
    const sin = new Float32Array(max * h)
    for (let p = 0; p < max; p++)
      for (let i = 0; i < h; i++) {
        cos[p * h + i] = Math.cos(p * inv[i]!)
        sin[p * h + i] = Math.sin(p * inv[i]!)
      }
    this.cos = new Tensor(cos, { shape: [max, h], device }).realize()
    this.sin = new Tensor(sin, { shape: [max, h], device }).realize()
    this.pos = Variable('start_pos', 0, max - 1)
    this.decode = jit((tok: Tensor, sp: sint) => this.forward(tok, sp).realize())
  }

  private attention(
    x: Tensor | NormedRow,
    l: LayerWeights,
    cache: KVCache,
    start: sint,
    cos: Tensor,
    sin: Tensor,
    residual: Tensor,
    panels?: ReadonlyMap<Tensor, QuantPanels>,
  ): Tensor {
    const c = this.config
    const T = (x instanceof NormedRow ? x.raw : x).shape[1]!
    const eps = c.normEps
    const heads = (t: Tensor, n: number, norm?: Tensor): Tensor => {
      let y = t.reshape([1, T, n, c.headDim])
      if (norm) y = y.rmsnorm(-1, eps).mul(f32(norm))
      return y.transpose(1, 2)
    }
    const rope = { layout: c.ropeLayout }
    // projections realized before rope: fused into it, each output's dot product was computed
    // again for its rotation partner (a Q8_0 q projection ran at 0.2 GB/s, unfused 10x faster)
    const lin = linearsOf(x, this.intBlocks, panels)
    const q = heads(cut(lin(l.wq, l.bq), T), c.heads, l.qNorm).rope(cos, sin, rope)
    const k = heads(cut(lin(l.wk, l.bk), T), c.kvHeads, l.kNorm).rope(cos, sin, rope)
    const v = heads(lin(l.wv, l.bv), c.kvHeads)
    const [keys, values] = cache.update(k, v, start).map(f32) as [Tensor, Tensor]
    // one new token sees every cached key; a prefill is causal against the cache
    // realized here (a prompt's: with its layer): its lazy pieces read the cache, so left lazy, the
    // next step's cache write (which keeps their values, as for any overwritten buffer) recomputed
    // this step's attention
    const a = cut(
      T === 1 ? q.scaledDotProductAttention(keys, values) : this.promptAttention(q, keys, values),
      T,
    )
    // one token: (1, heads, 1, headDim) is already in (1, 1, heads * headDim) order (the transposed
    // view took a copy kernel before the integer matvec, which reads a contiguous x)
    const flat = T === 1 ? a.reshape([1, 1, c.heads * c.headDim]) : a.transpose(1, 2)
    return linearsOf(flat.reshape([1, T, c.heads * c.headDim]), this.intBlocks, panels)(l.wo, undefined, {
      residual,
    })
  }

  /**
   * A prompt's causal attention (q (1, heads, T, headDim) against the cache's keys and values), one
   * key/value head at a time: each head's scores (group x T x context floats) are a temporary the
   * next head's reuse, where all heads' at once were the largest buffers of a prompt's layer (two
   * of 67 MB for a 512-token chunk at context 1024 on a LLaMA-1B shape).
   */
  private promptAttention(q: Tensor, keys: Tensor, values: Tensor): Tensor {
    const Hkv = keys.shape[1]!
    const g = q.shape[1]! / Hkv
    const opts = { isCausal: true, causalAlign: 'bottomRight' } as const
    if (Hkv === 1) return q.scaledDotProductAttention(keys, values, opts)
    const heads = Array.from({ length: Hkv }, (_, h) =>
      q
        .shrink([null, [h * g, (h + 1) * g], null, null])
        .scaledDotProductAttention(
          keys.shrink([null, [h, h + 1], null, null]),
          values.shrink([null, [h, h + 1], null, null]),
          opts,
        )
        .contiguous(),
    )
    return Tensor.cat(heads, 1)
  }

  /** residual + the MLP (or the experts) of x */
  private feedForward(
    x: Tensor | NormedRow,
    l: LayerWeights,
    residual: Tensor,
    panels?: ReadonlyMap<Tensor, QuantPanels>,
  ): Tensor {
    const e = this.config.experts
    const T = (x instanceof NormedRow ? x.raw : x).shape[1]!
    if (e) {
      const h = x instanceof NormedRow ? x.normed() : x
      const y = T === 1 ? moeDecode(h, l, e, this.w.blocks) : moeDense(h, l, e)
      return residual.add(T > 1 ? y.contiguous() : y)
    }
    // gate and up as two plain matvecs (one kernel with both reductions ran several times slower)
    const lin = linearsOf(x, this.intBlocks, panels)
    const g = cut(lin(l.gate!), T)
    const h = lin(l.up!, undefined, { gate: g })
    return linearsOf(h, this.intBlocks, panels)(l.down!, undefined, { residual })
  }

  /** x (1, T, dim) through layer i at positions start.. (its cache written): the next residual stream */
  private layer(
    x: Tensor,
    i: number,
    start: sint,
    cos: Tensor,
    sin: Tensor,
    panels?: ReadonlyMap<Tensor, QuantPanels>,
  ): Tensor {
    const c = this.config
    const l = this.w.layers[i]!
    const T = x.shape[1]!
    // the cache writes run at once, each realizing its keys or values: with the residual stream
    // and its norm realized here they start from them instead of recomputing every layer before
    // (the logits recomputed them all again: 54 kernels per decode step of 2 layers, now 29)
    const input = x.realize()
    if (T === 1) {
      // the norms in the integer products' quantizers (NormedRow); the residual adds in the
      // integer matvecs' kernels (linearsOf)
      const eps = c.normEps
      const h = new NormedRow(input, { weight: f32(l.attnNorm), eps })
      const y = this.attention(h, l, this.caches[i]!, start, cos, sin, input).realize()
      return this.feedForward(new NormedRow(y, { weight: f32(l.ffnNorm), eps }), l, y)
    }
    // (a composite: the norm's lazy pieces are no readers of input that input.dispose() below
    // must realize first, which ran the norm a second time per prompt layer)
    const h = Tensor.composite(() => input.rmsnorm(-1, c.normEps).mul(f32(l.attnNorm))).realize()
    // a prompt's projections are kernel boundaries before the residual add (see linearsOf)
    const block = (): Tensor => {
      const y = cut(this.attention(h, l, this.caches[i]!, start, cos, sin, input, panels), T)
      return this.feedForward(cut(y.rmsnorm(-1, c.normEps).mul(f32(l.ffnNorm)), T), l, y, panels)
    }
    // a prompt's layer is one schedule, built as a composite: its lazy pieces (the attention
    // output reads the cache) are no readers that the next cache write must realize (that
    // recomputed the last prompt's attention: 92 kernels for a 2-layer prompt instead of 50)
    const out = Tensor.composite(block).realize()
    h.dispose()
    input.dispose()
    return out
  }

  /** x (1, T, dim) -> logits (1, T, vocab), lazy */
  private head(x: Tensor): Tensor {
    const h = x.rmsnorm(-1, this.config.normEps).mul(f32(this.w.outputNorm))
    return linearsOf(h, this.intBlocks)(this.w.output ?? this.w.embed)
  }

  private embed(tokens: Tensor): Tensor {
    const T = tokens.shape[1]!
    const e = this.w.embed
    return f32(gatherRows(e, tokens.reshape([T]), this.w.blocks?.get(e))).reshape([1, T, this.config.dim])
  }

  /**
   * The lazy logits (1, 1, vocab) of one token (1, 1) int32 at position start (a bound Variable
   * when jitted). Building it writes the key and value into the cache (a KV-cache update runs at once).
   */
  private forward(tokens: Tensor, start: sint): Tensor {
    const end: sint = typeof start === 'number' ? start + 1 : start.add(1)
    const cos = this.cos.shrink([[start, end], null])
    const sin = this.sin.shrink([[start, end], null])
    let x = this.embed(tokens)
    for (let i = 0; i < this.w.layers.length; i++) x = this.layer(x, i, start, cos, sin)
    // the final norm in the head's quantizer, as the layers' (NormedRow)
    const norm = { weight: f32(this.w.outputNorm), eps: this.config.normEps }
    return linearsOf(new NormedRow(x.realize(), norm), this.intBlocks)(this.w.output ?? this.w.embed)
  }

  /**
   * The W panels of layer i's integer matmuls (Q8_0/Q4_0 weights), realized: a prompt in several
   * chunks unpacks each weight once for all of them. Empty without integer products.
   */
  private layerPanels(i: number): Map<Tensor, QuantPanels> {
    const out = new Map<Tensor, QuantPanels>()
    for (const w of Object.values(this.w.layers[i]!) as Tensor[]) {
      const q = this.intBlocks?.get(w)
      if (!q || !INT_DOT_TYPES.has(q.type.name) || w.ndim !== 2 || !quantMatmulFits(q.type.name, w.shape[0]!))
        continue
      const p = quantPanels(q.blocks, q.type, w.shape[0]!, w.shape[1]!)
      Tensor.realize(p.bytes, p.scale)
      out.set(w, p)
    }
    return out
  }

  /**
   * A prompt's realized logits at positions start.. (each chunk's (1, T, vocab) when `all`, else the
   * last token's (1, 1, vocab)), writing the cache. Layer by layer, each layer over the prompt in
   * chunks of `prefillChunk` tokens: a chunk's temporaries (activations, attention scores of chunk x
   * context) stay small, while each weight is unpacked into its matmul panels once per layer and
   * prompt, not once per chunk.
   */
  private prefill(tokens: readonly number[], start: number, all: boolean): Tensor[] {
    const n = Math.ceil(tokens.length / this.chunk)
    const offsets = Array.from({ length: n }, (_, k) => k * this.chunk)
    let xs = offsets.map((s) => this.embed(this.ids(tokens.slice(s, s + this.chunk))).realize())
    for (let i = 0; i < this.w.layers.length; i++) {
      const panels = this.layerPanels(i)
      xs = xs.map((x, k) => {
        const T = x.shape[1]!
        const s = start + offsets[k]!
        const cos = this.cos.shrink([[s, s + T], null])
        const sin = this.sin.shrink([[s, s + T], null])
        return T > 1 ? this.layer(x, i, s, cos, sin, panels) : this.layer(x, i, s, cos, sin).realize()
      })
      for (const p of panels.values()) for (const t of [p.bytes, p.scale]) t.dispose()
    }
    const logits = (x: Tensor, rows: 'all' | 'last'): Tensor => {
      const T = x.shape[1]!
      // the residual stream is freed here, not by the GC (its row view, internal to the
      // composite, does not hold it)
      const y = Tensor.composite(() =>
        this.head(rows === 'all' || T === 1 ? x : x.shrink([null, [T - 1, T], null])),
      ).realize()
      x.dispose()
      return y
    }
    if (all) return xs.map((x) => logits(x, 'all'))
    for (const x of xs.slice(0, -1)) x.dispose()
    return [logits(xs.at(-1)!, 'last')]
  }

  private check(tokens: readonly number[], start: number, where: string): void {
    const V = this.config.vocabSize
    if (!Array.isArray(tokens) || tokens.length === 0)
      throw new TsgradError(`${where}: tokens must be a non-empty array of token ids`)
    const bad = tokens.findIndex((t) => !(Number.isInteger(t) && t >= 0 && t < V))
    if (bad >= 0)
      throw new TsgradError(`${where}: token ${tokens[bad]} at index ${bad} is not an id in 0..${V - 1}`)
    if (!(Number.isInteger(start) && start >= 0))
      throw new TsgradError(`${where}: start must be a non-negative integer, got ${start}`)
    if (start + tokens.length > this.maxContext)
      throw new TsgradError(
        `${where}: positions ${start}..${start + tokens.length - 1} do not fit the context of ${this.maxContext} tokens (maxContext)`,
      )
  }

  private ids(tokens: readonly number[]): Tensor {
    return new Tensor(Int32Array.from(tokens), { shape: [1, tokens.length], device: this.cos.device })
  }

  async step(tokens: readonly number[], start: number): Promise<Float32Array> {
    this.check(tokens, start, 'step')
    if (tokens.length === 1) return this.read(this.decode(this.ids(tokens), this.pos.bind(start)))
    // a prompt runs without yielding: one turn of the event loop first lets the buffers dropped
    // since the last one come back (finalizers) and starts the host allocator's budget of fresh
    // mappings afresh (runtime/host_memory.ts), which a load just before would otherwise have used
    await eventLoopTurn()
    return this.read(this.prefill(tokens, start, false)[0]!)
  }

  /**
   * The logits read back, their buffer given back at once: the next step's output takes it warm
   * from the pool. Left to the GC, every step's output was fresh memory until a collection: 125
   * page faults (~1.6 ms on this VM) of a ~23 ms LLaMA-1B decode step, in the first ~100 steps
   * of a process, which made the bench's decode @128 (right after the first prompts) slower than
   * its @1024 (after the collections of a longer prompt).
   */
  private async read(out: Tensor): Promise<Float32Array> {
    try {
      return logitsOf(await out.data())
    } finally {
      out.dispose()
    }
  }

  async logitsAll(tokens: readonly number[]): Promise<Float32Array> {
    this.check(tokens, 0, 'logitsAll')
    const V = this.config.vocabSize
    const out = new Float32Array(tokens.length * V)
    if (tokens.length === 1) {
      out.set((await this.forward(this.ids(tokens), 0).realize().data()) as Float32Array)
      return out
    }
    const chunks = this.prefill(tokens, 0, true)
    for (let k = 0; k < chunks.length; k++)
      out.set((await chunks[k]!.data()) as Float32Array, k * this.chunk * V)
    return out
  }
}
