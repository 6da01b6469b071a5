// The train-llama model and step: the loss goes down, k micro-batches accumulated inside one jitted
// step equal one batch k times the size, jit equals eager, flash equals math attention, and the
// model exported as GGUF loads in the LLM app and computes the trainer's logits. Options and the
// plot/progress helpers too.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { parseTrainArgs, UsageError } from '../../src/apps/train_llama/args.ts'
import { LlamaModel } from '../../src/apps/train_llama/model.ts'
import { lossPlotSVG } from '../../src/apps/train_llama/plot.ts'
import { PRESETS, parameterCount } from '../../src/apps/train_llama/presets.ts'
import { TrainProgress } from '../../src/apps/train_llama/progress.ts'
import { makeTrainStep, type StepConfig } from '../../src/apps/train_llama/train_step.ts'
import { unigramEntropy } from '../../src/apps/train_llama/unigram.ts'
import { jit, llm, nn, Tensor } from '../../src/index.ts'
import { MICRO, microCorpus, patternBatch } from './train_llama_micro.ts'

const tmp = mkdtempSync(join(tmpdir(), 'tsgrad-train-llama-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function setup(cfg: Partial<StepConfig> = {}, useJit = true) {
  Tensor.manualSeed(7)
  const m = new LlamaModel(MICRO)
  const g = m.paramGroups()
  const opt = new nn.optim.AdamW([{ params: g.decay }, { params: g.noDecay, weightDecay: 0 }], {
    lr: 1e-2,
    weightDecay: 0.1,
  })
  const f = makeTrainStep(m, opt, {
    accum: 1,
    microBatch: 4,
    forward: { attention: 'math' },
    clip: 1,
    ...cfg,
  })
  return { m, opt, step: useJit ? jit(f) : f }
}

async function losses(step: (x: Tensor, y: Tensor) => Tensor[], n: number, rows: number): Promise<number[]> {
  const out: number[] = []
  for (let s = 0; s < n; s++) {
    const [x, y] = patternBatch(s % 3, rows)
    out.push(Number(await step(x, y)[0]!.item()))
  }
  return out
}

describe('train-llama step', () => {
  test('the loss goes down (jitted AdamW with clipping on a learnable pattern)', async () => {
    const { step } = setup()
    const ls = await losses(step, 12, 4)
    assert.ok(Math.abs(ls[0]! - Math.log(MICRO.vocabSize)) < 0.1, `initial loss ${ls[0]} is about log(V)`)
    assert.ok(ls.at(-1)! < ls[0]! - 1.5, `loss went from ${ls[0]} to ${ls.at(-1)}`)
  })

  test('jit and eager give the same losses', async () => {
    const a = await losses(setup({}, false).step, 5, 4)
    const b = await losses(setup({}, true).step, 5, 4)
    assert.deepEqual(b, a)
  })

  test('grad accumulation of 2 micro-batches inside one jitted step equals one batch of twice the size', async () => {
    const one = setup({ accum: 1, microBatch: 4 })
    const two = setup({ accum: 2, microBatch: 2 })
    // the first step's gradients (a step realizes them with the update)
    const [x, y] = patternBatch(0, 4)
    const l1 = Number(await one.step(x, y)[0]!.item())
    const l2 = Number(await two.step(x, y)[0]!.item())
    assert.ok(Math.abs(l1 - l2) < 1e-6, `${l1} vs ${l2}`)
    for (const [name, p] of one.m.params) {
      const q = two.m.params.get(name)!
      const d = (await p.grad!.sub(q.grad!).abs().max().item()) as number
      assert.ok(d < 1e-6, `${name}: gradients differ by ${d}`)
    }
    // then jitted replays: the same losses and weights up to rounding (Adam divides by sqrt(v),
    // so parameters whose gradients are ~0 move by the rounding noise's sign: lr-sized bounds)
    const a = await losses(one.step, 4, 4)
    const b = await losses(two.step, 4, 4)
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5, `step ${i}: ${a[i]} vs ${b[i]}`)
    for (const [name, p] of one.m.params) {
      const d = (await p.sub(two.m.params.get(name)!).abs().max().item()) as number
      assert.ok(d < 1e-3, `${name} differs by ${d} after 5 steps`)
    }
  })

  test('flash attention gives the math path gradients', async () => {
    const grads = async (attention: 'flash' | 'math') => {
      Tensor.manualSeed(7)
      const m = new LlamaModel(MICRO)
      const [x, y] = patternBatch(1, 2)
      m.loss(x, y, { attention }).backward()
      return Promise.all([...m.params.values()].map(async (p) => (await p.grad!.data()) as Float32Array))
    }
    const [a, b] = [await grads('math'), await grads('flash')]
    a.forEach((g, i) => {
      for (let j = 0; j < g.length; j++) assert.ok(Math.abs(g[j]! - b[i]![j]!) < 1e-5, `param ${i}[${j}]`)
    })
  })
})

describe('train-llama precision', () => {
  test('bf16 and fp16 (with loss scaling) compute over fp32 masters track fp32 and learn, jitted', async () => {
    const fp32 = await losses(setup({}).step, 6, 4)
    for (const compute of ['bfloat16', 'float16'] as const) {
      const scaler = compute === 'float16' ? { scaler: new nn.GradScaler() } : {}
      const { m, step } = setup({ forward: { attention: 'math', compute }, ...scaler })
      const ls = await losses(step, 6, 4)
      assert.ok(Math.abs(ls[0]! - fp32[0]!) < 0.02, `${compute}: first loss ${ls[0]} vs fp32 ${fp32[0]}`)
      assert.ok(ls.at(-1)! < ls[0]! - 0.3, `${compute}: loss ${ls[0]} -> ${ls.at(-1)}`)
      assert.ok(
        Math.abs(ls.at(-1)! - fp32.at(-1)!) < 0.3,
        `${compute}: last loss ${ls.at(-1)} vs fp32 ${fp32.at(-1)}`,
      )
      for (const p of m.params.values()) assert.equal(p.dtype.name, 'float32')
    }
  })
})

describe('train-llama activation checkpointing', () => {
  test('recomputing each layer in the backward gives the same gradients', async () => {
    const grads = async (ckpt: boolean) => {
      Tensor.manualSeed(7)
      const m = new LlamaModel(MICRO)
      const [x, y] = patternBatch(2, 2)
      const layerWrapper = ckpt
        ? (layer: (x: Tensor) => Tensor, h: Tensor) => nn.checkpoint(layer, h)
        : undefined
      const loss = m.loss(x, y, { attention: 'math', ...(layerWrapper ? { layerWrapper } : {}) })
      loss.backward()
      return Promise.all(
        [loss, ...[...m.params.values()].map((p) => p.grad!)].map(
          async (t) => (await t.data()) as Float32Array,
        ),
      )
    }
    const [a, b] = [await grads(false), await grads(true)]
    a.forEach((g, i) => {
      for (let j = 0; j < g.length; j++)
        assert.ok(Math.abs(g[j]! - b[i]![j]!) < 1e-6, `tensor ${i}[${j}]: ${g[j]} vs ${b[i]![j]}`)
    })
  })
})

describe('train-llama export', () => {
  test('the exported GGUF loads in the LLM app and reproduces the trainer logits', async () => {
    const tok = llm.trainBPE(microCorpus(200).split('\n'), { vocabSize: MICRO.vocabSize })
    const shape = { ...MICRO, vocabSize: tok.vocabSize }
    Tensor.manualSeed(3)
    const m = new LlamaModel(shape)
    const config: llm.LLMConfig = {
      arch: 'llama',
      vocabSize: shape.vocabSize,
      dim: shape.dim,
      layers: shape.layers,
      heads: shape.heads,
      kvHeads: shape.kvHeads,
      headDim: shape.dim / shape.heads,
      hidden: shape.hidden,
      normEps: shape.normEps,
      ropeTheta: shape.ropeTheta,
      ropeLayout: 'neox',
      contextLength: shape.seqLen,
      tiedEmbeddings: true,
    }
    const out = join(tmp, 'export')
    const { gguf } = await llm.exportModel(out, { config, weights: m.weights(), tokenizer: tok })
    const ids = tok
      .encode('The people of the world said that they would come back.', { addBos: false })
      .slice(0, 12)
    const ours = (await m
      .logits(new Tensor(Int32Array.from(ids), { shape: [1, ids.length] }))
      .data()) as Float32Array
    // a float32 KV cache, as the training model attends over unrounded keys and values
    const lm = await llm.load(gguf, { kvDtype: 'f32' })
    assert.equal(
      lm.tokenizer.encode('said that they', { addBos: false }).join(),
      tok.encode('said that they', { addBos: false }).join(),
    )
    const theirs = await lm.logits(ids)
    assert.equal(theirs.length, ours.length)
    let worst = 0
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!))
    assert.ok(worst < 1e-4, `logits differ by ${worst}`)
  })
})

describe('train-llama options and helpers', () => {
  test('presets and overrides', () => {
    const o = parseTrainArgs([
      '--preset',
      'tiny',
      '--dim',
      '64',
      '--layers=3',
      '--grad-accum',
      '2',
      '--precision',
      'bf16',
    ])
    assert.ok(o !== 'help')
    assert.equal(o.model.dim, 64)
    assert.equal(o.model.layers, 3)
    assert.equal(o.model.vocabSize, PRESETS.tiny.vocabSize)
    assert.equal(o.gradAccum, 2)
    assert.equal(o.precision, 'bf16')
    const tiny = parameterCount(PRESETS.tiny)
    const small = parameterCount(PRESETS.small)
    assert.ok(tiny > 0.5e6 && tiny < 1.5e6, `tiny has ${tiny}`)
    assert.ok(small > 10e6 && small < 20e6, `small has ${small}`)
    Tensor.manualSeed(0)
    const m = new LlamaModel(MICRO)
    assert.equal(
      [...m.params.values()].reduce((a, p) => a + p.numel(), 0),
      parameterCount(MICRO),
    )
    assert.equal(parseTrainArgs(['--help']), 'help')
  })

  test('bad options name the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--heads', '5'], /--dim 384 must be a multiple of --heads 5/],
      [['--kv-heads', '4'], /--heads 6 must be a multiple of --kv-heads 4/],
      [['--precision', 'fp8'], /--precision: expected fp32, bf16 or fp16/],
      [['--preset', 'huge'], /--preset: expected tiny or small/],
      [['--steps', '0'], /--steps: expected an integer >= 1/],
      [['--lr', 'x'], /--lr: expected a number/],
      [['--bogus'], /unknown option '--bogus'/],
      [['--out'], /--out: missing value/],
    ]
    for (const [argv, re] of bad)
      assert.throws(
        () => parseTrainArgs(argv),
        (e: Error) => e instanceof UsageError && re.test(e.message),
      )
  })

  test('unigram entropy', () => {
    assert.equal(unigramEntropy(Int32Array.from([1, 1, 1, 1]), 4), 0)
    assert.ok(Math.abs(unigramEntropy(Int32Array.from([0, 1, 2, 3]), 4) - Math.log(4)) < 1e-12)
  })

  test('the plot has both curves and the baseline; progress prints tokens/s, ETA and val loss', () => {
    const svg = lossPlotSVG(
      {
        train: [
          [1, 5],
          [2, 4.5],
          [3, 4],
        ],
        val: [[3, 4.2]],
      },
      'run <1>',
      { label: 'unigram', value: 5.3 },
    )
    assert.match(svg, /^<svg/)
    assert.equal((svg.match(/<path/g) ?? []).length, 3)
    assert.match(svg, /run &lt;1>/)
    assert.match(svg, /unigram/)
    let t = 0
    let text = ''
    const p = new TrainProgress({
      total: 4,
      first: 1,
      tokensPerStep: 100,
      stream: { write: (s: string) => (text += s) },
      tty: false,
      logEvery: 1,
      now: () => t,
    })
    for (let s = 1; s <= 4; s++) {
      t += 1000
      if (s === 3) p.validation(Math.log(50))
      p.update(s, 5 - s / 2, 1e-3)
    }
    assert.match(text, /step 2\/4 {2}loss 4\.0000 {2}lr 1\.00e-3 {2}100 tok\/s/)
    assert.match(text, /val 3\.912 \(ppl 50\.0\)/)
    assert.match(text, /ETA 1s/)
  })
})
