// What a decode step reads and runs: the embedding row of a K-quant table is picked from its block
// bytes and dequantized alone (picking rows of the lazy dequantization graph made the scheduler
// dequantize the whole table into a float32 buffer every step); each layer's work runs once (the
// KV-cache writes realized lazily built keys/values that recomputed all earlier layers).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { scheduleFor, stats } from '../../src/engine/realize.ts'
import { Tensor, Variable } from '../../src/index.ts'
import type { Transformer } from '../../src/llm/model.ts'
import type { KernelItem, ScheduleItem } from '../../src/schedule/schedule.ts'
import { setVizHooks, type VizHooks } from '../../src/trace.ts'
import { Ops } from '../../src/uop/ops.ts'
import { toposort } from '../../src/uop/rewrite.ts'
import { join } from 'node:path'
import { nn } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import { LLM_FIXTURES, loadTiny } from './fixtures.ts'

const kernels = (t: Tensor): KernelItem[] =>
  scheduleFor([t.uop]).items.filter((i): i is KernelItem => i.kind === 'kernel')

describe('llm model: bytes a decode step touches', () => {
  test('Q6_K embedding: no buffer of the table size besides its blocks and the Q6_K output', async () => {
    const m = (await loadTiny('llama_kquant')) as Transformer
    const { vocabSize: V, dim: D } = m.config
    const pos = Variable('start_pos', 0, m.maxContext - 1)
    const ks = kernels(m.forward(new Tensor(Int32Array.from([5]), { shape: [1, 1] }), pos.bind(3), false))
    const tableSized = ks.flatMap((k) => k.bufs.filter((b) => b.size === V * D).map((b) => b.dtype.name))
    assert.deepEqual(tableSized, [], 'no kernel writes or reads a dequantized copy of the embedding table')
  })

  test('a decode step of a dense 2-layer model: kernels launched, float and integer matvecs', async () => {
    const run = async (intDot: boolean): Promise<number> => {
      const m = loadGGUFModel(await nn.ggufLoad(join(LLM_FIXTURES, 'llama2_q8_0.gguf')), { intDot })
      await m.step([1, 2, 3], 0)
      for (let i = 3; i < 6; i++) await m.step([i], i)
      const before = stats.kernelsRun
      await m.step([7], 6)
      return stats.kernelsRun - before
    }
    // float: per layer norm, q, k, v (+ rope), attention (4), output, norm, gate, up, down; plus the
    // embedding and the head (54 when every cache write recomputed the layers before it)
    const float = await run(false)
    assert.ok(float <= 15 * 2 + 3, `${float} kernels per float decode step`)
    // integer: x quantized once per input (one kernel: 4 per layer and the head's; the RMS norms
    // before the attention, the MLP and the head in their quantizers) and its matvecs, which add
    // biases, silu(gate) * up and the residual in their kernels as the float matmuls fuse them
    // (17 per layer). 65 before: each projection quantized x again (in 2 kernels), reshaped
    // outputs and the attention's transposed view were copied, and the residual adds and silu *
    // up were kernels of their own; 43 with the norms as kernels of their own
    assert.equal(await run(true), 37, 'kernels per integer decode step')
  })

  test('a decode step multiplies each weight once (projections are not recomputed inside rope or a fused gate/up)', async () => {
    const m = await loadTiny('llama2_q8_0')
    await m.step([1, 2, 3], 0)
    const items: ScheduleItem[] = []
    const noop = () => {}
    const hooks: VizHooks = {
      schedule: (s) => items.push(...s),
      kernelBegin: noop,
      codegenStep: noop,
      linearized: noop,
      kernelEnd: noop,
      launch: noop,
      copy: noop,
      mem: noop,
    }
    setVizHooks(hooks)
    try {
      await m.step([4], 3) // the first one-token step runs eagerly
    } finally {
      setVizHooks(null)
    }
    // kernels that read Q8_0 weight bytes and reduce more than once: none. Fused into rope, a
    // projection was computed again per rotation partner (4 reductions), and gate and up in one
    // kernel (2) ran several times slower than apart.
    const multi = items.filter(
      (k): k is KernelItem =>
        k.kind === 'kernel' &&
        k.bufs.some((b) => b.dtype.name === 'uint8') &&
        toposort([k.ast]).filter((u) => u.op === Ops.REDUCE).length > 1,
    )
    assert.equal(
      multi.length,
      0,
      `kernels with several reductions: ${multi.map((k) => k.bufs.map((b) => b.size))}`,
    )
  })
})
