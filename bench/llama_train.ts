// The train-llama `small` model: tokens/s of one jitted training step (forward, backward, clip,
// AdamW) against the same model in PyTorch on CPU (bench/peers/llama_train_torch.py, when
// /usr/bin/python3 has torch), same batch and sequence length, one run each, plain medians; peak
// memory of both (tsgrad: device bytes in use at the peak and the process's peak RSS; torch: RSS).
// Then flash against plain (math) attention, forward + backward, at T = 256..1024.
//   node --import tsx bench/llama_train.ts [--batch N] [--steps N] [--attention flash|math]
//     [--checkpoint-activations] [--no-torch] [--no-step] [--no-attention] [--lengths 256,512,1024]
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { LlamaModel } from '../src/apps/train_llama/model.ts'
import { PRESETS } from '../src/apps/train_llama/presets.ts'
import { makeTrainStep } from '../src/apps/train_llama/train_step.ts'
import { jit, nn, Tensor } from '../src/index.ts'
import { memory } from '../src/runtime/buffer.ts'

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1]! : d
}

export async function llamaTrainBench(argv = process.argv.slice(2)): Promise<string[][]> {
  const has = (f: string) => argv.includes(f)
  const rows: string[][] = has('--no-step') ? [] : [await trainStepRow(has)]
  if (!has('--no-attention'))
    rows.push(...(await attentionBench(arg('--lengths', '256,512,1024').split(',').map(Number))))
  return rows
}

/** One row: the small preset's jitted train step, tsgrad against the PyTorch peer. */
async function trainStepRow(has: (flag: string) => boolean): Promise<string[]> {
  const B = Number(arg('--batch', '8'))
  const steps = Number(arg('--steps', '6'))
  const attention = arg('--attention', 'flash') as 'flash' | 'math'
  const shape = { ...PRESETS.small }
  const T = shape.seqLen
  Tensor.manualSeed(0)
  const model = new LlamaModel(shape)
  const g = model.paramGroups()
  const opt = new nn.optim.AdamW([{ params: g.decay }, { params: g.noDecay, weightDecay: 0 }], {
    lr: 1e-3,
    b2: 0.95,
    weightDecay: 0.1,
  })
  const ckpt = has('--checkpoint-activations')
  const forward = {
    attention,
    ...(ckpt ? { layerWrapper: (layer: (x: Tensor) => Tensor, x: Tensor) => nn.checkpoint(layer, x) } : {}),
  }
  const step = jit(makeTrainStep(model, opt, { accum: 1, microBatch: B, forward, clip: 1 }))
  const tokens = () =>
    new Tensor(
      Int32Array.from({ length: B * T }, () => (Math.random() * shape.vocabSize) | 0),
      { shape: [B, T] },
    )
  const times: number[] = []
  let peak = 0
  for (let s = 0; s < steps + 2; s++) {
    const [x, y] = [tokens(), tokens()]
    const base = memory.inUse
    memory.peak = base
    const t0 = performance.now()
    await step(x, y)[0]!.item()
    const ms = performance.now() - t0
    if (s >= 2) times.push(ms)
    peak = Math.max(peak, memory.peak)
    console.error(`step ${s}: ${ms.toFixed(0)} ms`)
  }
  const ms = median(times)
  const rss = process.resourceUsage().maxRSS / 1024
  const ours = `${(((B * T) / ms) * 1000) | 0} tok/s (${ms.toFixed(0)} ms/step; peak ${(peak / 2 ** 20).toFixed(0)} MiB device, ${rss.toFixed(0)} MiB RSS)`
  let peer = 'PyTorch: not run'
  if (!has('--no-torch') && existsSync('/usr/bin/python3')) {
    const r = spawnSync(
      '/usr/bin/python3',
      [
        join(import.meta.dirname, 'peers/llama_train_torch.py'),
        JSON.stringify({ ...shape, batch: B, steps }),
      ],
      {
        encoding: 'utf8',
      },
    )
    if (r.status === 0) {
      const p = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
      peer = `PyTorch ${p.torch} (${p.threads} threads): ${p.tokensPerSecond | 0} tok/s (${p.ms.toFixed(0)} ms/step; peak ${p.peakRssMiB.toFixed(0)} MiB RSS)`
    } else peer = `PyTorch failed: ${r.stderr.trim().split('\n').at(-1)}`
  }
  const row = [
    `llama-train small (14M) step, batch ${B} x ${T}, ${attention} attention${ckpt ? ', checkpointed' : ''}`,
    ours,
    peer,
  ]
  console.log(row.join(' | '))
  return row
}

/** flash vs math attention, forward + backward, B=1 H=6 (GQA 2 kv heads) D=64 causal. */
async function attentionBench(lengths: number[]): Promise<string[][]> {
  const rows: string[][] = []
  for (const T of lengths) {
    const res: string[] = []
    for (const backend of ['math', 'flash'] as const) {
      Tensor.manualSeed(1)
      const mk = (h: number) => {
        const t = Tensor.randn([1, h, T, 64]).realize()
        t.requiresGrad = true
        return t
      }
      const [q, k, v] = [mk(6), mk(2), mk(2)]
      const times: number[] = []
      let peak = 0
      for (let i = 0; i < 4; i++) {
        q.grad = k.grad = v.grad = undefined
        const base = memory.inUse
        memory.peak = base
        const t0 = performance.now()
        const o = q.scaledDotProductAttention(k, v, { isCausal: true, backend })
        o.square().sum().backward()
        Tensor.realize(q.grad!, k.grad!, v.grad!)
        if (i >= 1) times.push(performance.now() - t0)
        peak = Math.max(peak, memory.peak - base)
      }
      res.push(`${backend} ${median(times).toFixed(1)} ms, +${(peak / 2 ** 20).toFixed(1)} MiB`)
    }
    rows.push([`attention fwd+bwd T=${T} (B1 H6/2 D64 causal)`, ...res])
    console.log(rows.at(-1)!.join(' | '))
  }
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) await llamaTrainBench()
