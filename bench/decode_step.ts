// Per-token cost of LLaMA-style decoding (issue 16, section 5): a small model (test/nn/tiny_llama.ts)
// decodes with a bound Variable position over KV caches, eager and under `jit`. Plain user path:
// `step(tok, pos.bind(i))` then `.data()`, outputs not disposed; median over the positions.
// Prints ms/token, kernels per token, schedules per token (0 under jit: nothing re-scheduled) and
// the replay overhead per kernel (the jitted step minus the same kernels' time when timed alone is
// not separable here, so the overhead is measured on a model with tiny widths, where kernel time
// is negligible).
//   node --import tsx bench/decode_step.ts
import { stats } from '../src/engine/realize.ts'
import { Device, jit, type sint, Tensor, Variable } from '../src/index.ts'
import { type TinyLlamaConfig, TinyLlama } from '../test/nn/tiny_llama.ts'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

function run(name: string, cfg: TinyLlamaConfig, tokens: number): void {
  Tensor.manualSeed(1)
  const model = new TinyLlama(cfg)
  const prefill = 8
  const ids = Array.from({ length: prefill + 2 * tokens + 8 }, (_, i) => (i * 31 + 7) % cfg.vocab)
  model.logits(new Tensor([ids.slice(0, prefill)], { dtype: 'int32' }), 0, true).dataSync()
  const pos = Variable('start_pos', 0, cfg.maxLen - 1)
  const tok = (i: number) => new Tensor([[ids[i]!]], { dtype: 'int32' })
  const measure = (step: (t: Tensor, sp: sint) => Tensor, from: number) => {
    const times: number[] = []
    const k0 = stats.kernelsRun
    const s0 = stats.schedules
    for (let i = from; i < from + tokens; i++) {
      const t0 = performance.now()
      step(tok(i), pos.bind(i)).dataSync()
      times.push(performance.now() - t0)
    }
    // the first 3 calls warm up (compile, capture); the median is over the rest
    return {
      ms: median(times.slice(3)),
      kernels: (stats.kernelsRun - k0) / tokens,
      schedules: (stats.schedules - s0) / tokens,
    }
  }
  const eager = measure((t, sp) => model.logits(t, sp, true), prefill)
  const jitted = jit((t: Tensor, sp: sint) => model.logits(t, sp, true).realize())
  const j = measure(jitted, prefill + tokens)
  const s0 = stats.schedules
  jitted(tok(prefill + 2 * tokens), pos.bind(prefill + 2 * tokens)).dataSync()
  const replaySchedules = stats.schedules - s0
  const params =
    cfg.layers *
      (cfg.dim * cfg.dim * 2 + 2 * cfg.dim * (cfg.dim / cfg.heads) * cfg.kvHeads + 3 * cfg.dim * cfg.hidden) +
    2 * cfg.vocab * cfg.dim
  console.log(
    `${name} (${(params / 1e6).toFixed(1)}M params, ${Device.DEFAULT}): eager ${eager.ms.toFixed(2)} ms/token (${eager.kernels.toFixed(0)} kernels, ${eager.schedules.toFixed(1)} schedules per token) | jit ${j.ms.toFixed(3)} ms/token (${j.kernels.toFixed(0)} kernels, ${((j.ms * 1e3) / j.kernels).toFixed(1)} us/kernel incl. kernel time; schedules per replay: ${replaySchedules}) | eager/jit x${(eager.ms / j.ms).toFixed(1)}`,
  )
}

run(
  'tiny widths (overhead)',
  { vocab: 64, dim: 16, heads: 2, kvHeads: 1, hidden: 32, layers: 4, maxLen: 256 },
  60,
)
run('small model', { vocab: 2048, dim: 512, heads: 8, kvHeads: 4, hidden: 1408, layers: 4, maxLen: 256 }, 40)
