// The train-llama run: corpus -> BPE tokenizer -> model -> jitted steps with validation,
// checkpoints and progress -> export (model.gguf + HF folder), loss plot, a generated sample.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Device, jit, llm, nn, Tensor } from '../../index.js'
import type { TrainLlamaOptions } from './args.js'
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint.js'
import { BatchSampler, readCorpus, splitTrainVal, tokenizeDocs } from './data.js'
import { type ComputeDType, type ForwardOptions, LlamaModel } from './model.js'
import { type LossHistory, lossPlotSVG } from './plot.js'
import { parameterCount } from './presets.js'
import { TrainProgress, type ProgressStream } from './progress.js'
import { makeEvalStep, makeTrainStep } from './train_step.js'
import { unigramEntropy } from './unigram.js'

export interface TrainIO {
  /** progress and status lines (stderr) */
  progress: ProgressStream
}

export interface TrainLlamaResult {
  /** [step, loss] of every step this process ran */
  losses: [number, number][]
  history: LossHistory
  finalValLoss: number
  /** entropy (nats/token) of the validation split's own unigram distribution */
  unigramValEntropy: number
  tokensPerSecond: number
  trainSeconds: number
  sample: string
  paths: { gguf: string; hfDir: string; plot: string; checkpoint: string }
}

const COMPUTE: Record<TrainLlamaOptions['precision'], ComputeDType> = {
  fp32: 'float32',
  bf16: 'bfloat16',
  fp16: 'float16',
}

function selectDevice(name: string | undefined): string {
  if (name === undefined) return Device.DEFAULT
  const why = Device.unavailableReason(name)
  if (why !== undefined) throw new Error(`--device: ${name} cannot run here: ${why}`)
  Device.DEFAULT = name
  return name
}

/** Fixed validation windows spread evenly over the validation tokens (the same every evaluation). */
function validationBatches(tokens: Int32Array, batches: number, B: number, T: number): [Tensor, Tensor][] {
  const n = batches * B
  const span = tokens.length - T - 1
  if (span < 0)
    throw new Error(`the validation split has ${tokens.length} tokens, fewer than --seq-len ${T} + 1`)
  const out: [Tensor, Tensor][] = []
  for (let b = 0; b < batches; b++) {
    const x = new Int32Array(B * T)
    const y = new Int32Array(B * T)
    for (let r = 0; r < B; r++) {
      const o = Math.floor(((b * B + r) * span) / Math.max(1, n - 1))
      x.set(tokens.subarray(o, o + T), r * T)
      y.set(tokens.subarray(o + 1, o + T + 1), r * T)
    }
    out.push([new Tensor(x, { shape: [B, T] }).realize(), new Tensor(y, { shape: [B, T] }).realize()])
  }
  return out
}

export async function trainLlama(o: TrainLlamaOptions, io: TrainIO): Promise<TrainLlamaResult> {
  const say = (s: string) => io.progress.write(`${s}\n`)
  const device = selectDevice(o.device)
  const out = resolve(o.out)
  const ckptRoot = join(out, 'checkpoints')

  const resumed = o.resume ? await loadLatestCheckpoint(ckptRoot) : undefined
  if (o.resume && !resumed) throw new Error(`--resume: no checkpoint in ${ckptRoot} (latest.json is missing)`)
  if (!o.resume && existsSync(join(ckptRoot, 'latest.json')))
    throw new Error(`${out} already holds a training run: pass --resume to continue it, or another --out`)
  mkdirSync(out, { recursive: true })
  const saved = resumed?.json.run as { model: TrainLlamaOptions['model']; history: LossHistory } | undefined
  const shape = saved ? saved.model : o.model

  // data and tokenizer (a resumed run takes its tokenizer from the checkpoint)
  const docs = await readCorpus(o.data)
  const split = splitTrainVal(docs, o.valFraction, o.seed)
  if (split.val.length === 0) throw new Error('the corpus is too small for a validation split')
  let tok: llm.Tokenizer
  if (resumed) {
    const t = resumed.json.tokenizer as { tokenizerJson: unknown; tokenizerConfig: unknown }
    tok = llm.tokenizerFromHF(t.tokenizerJson, t.tokenizerConfig)
  } else {
    const t0 = performance.now()
    tok = llm.trainBPE(split.train, { vocabSize: shape.vocabSize })
    say(
      `trained a BPE tokenizer of ${tok.vocabSize} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
  }
  // the tokenizer may stop short of the asked size on a small corpus: the model follows it
  const model = { ...shape, vocabSize: tok.vocabSize }
  const trainTokens = tokenizeDocs(tok, split.train)
  const valTokens = tokenizeDocs(tok, split.val)
  const unigram = unigramEntropy(valTokens, tok.vocabSize)
  say(
    `${docs.length} documents: ${trainTokens.length} train / ${valTokens.length} validation tokens; ` +
      `unigram entropy of the validation split ${unigram.toFixed(3)} nats/token`,
  )

  Tensor.manualSeed(o.seed)
  const m = new LlamaModel(model)
  const groups = m.paramGroups()
  const opt = new nn.optim.AdamW([{ params: groups.decay }, { params: groups.noDecay, weightDecay: 0 }], {
    lr: o.lr,
    weightDecay: o.weightDecay,
    b2: 0.95,
  })
  const sched = nn.optim.warmupCosine(opt, {
    warmupSteps: o.warmup,
    totalSteps: o.steps,
    minLrRatio: o.minLrRatio,
  })
  const B = o.batchSize
  const T = model.seqLen
  const sampler = new BatchSampler(trainTokens, { batch: B * o.gradAccum, seqLen: T, seed: o.seed })
  const history: LossHistory = saved ? saved.history : { train: [], val: [] }
  // float16's range needs loss scaling; bfloat16 has float32's
  const scaler = o.precision === 'fp16' ? new nn.GradScaler() : undefined
  let start = 0
  if (resumed) {
    const w = resumed.tensors.model!
    const params = [...m.params]
    for (const [name, p] of params) {
      const t = w[name]
      if (!t || t.shape.join() !== p.shape.join())
        throw new Error(`checkpoint: parameter ${name} is missing or has another shape`)
      p.assign(t)
    }
    Tensor.realize(...params.map(([, p]) => p))
    opt.loadStateDict({ state: resumed.tensors.optimizer!, groups: resumed.json.optimizer as never })
    sched.loadStateDict(resumed.json.scheduler as never)
    sampler.setState(resumed.json.sampler as never)
    if (scaler) scaler.loadStateDict(resumed.json.scaler as never)
    start = resumed.step
    say(`resumed from ${resumed.dir} (step ${start})`)
  }
  say(
    `${o.preset} LLaMA: ${(parameterCount(model) / 1e6).toFixed(2)}M parameters (dim ${model.dim}, ${model.layers} layers, ` +
      `${model.heads}/${model.kvHeads} heads, hidden ${model.hidden}, vocab ${model.vocabSize}, seq ${T}) on ${device}; ` +
      `${o.steps} steps of ${o.gradAccum} x ${B} sequences, ${o.precision}, ${o.attention} attention`,
  )

  const forward: ForwardOptions = { compute: COMPUTE[o.precision], attention: o.attention }
  // each layer's activations are recomputed in the backward instead of kept
  if (o.checkpointActivations) forward.layerWrapper = (layer, x) => nn.checkpoint(layer, x)
  const eagerStep = makeTrainStep(m, opt, {
    accum: o.gradAccum,
    microBatch: B,
    forward,
    clip: o.clip,
    ...(scaler ? { scaler } : {}),
  })
  const step = o.jit ? jit(eagerStep) : eagerStep
  const evalBatches = validationBatches(valTokens, o.evalBatches, B, T)
  const evalStep = o.jit ? jit(makeEvalStep(m, forward)) : makeEvalStep(m, forward)
  const validate = async (): Promise<number> => {
    let sum = 0
    for (const [x, y] of evalBatches) sum += Number(await evalStep(x, y).item())
    return sum / evalBatches.length
  }
  const checkpoint = async (at: number) =>
    saveCheckpoint(
      ckptRoot,
      at,
      {
        tensors: { model: m.weights(), optimizer: opt.stateDict().state },
        json: {
          run: { model, history, options: o },
          optimizer: opt.stateDict().groups,
          scheduler: sched.stateDict(),
          sampler: sampler.state(),
          ...(scaler ? { scaler: scaler.stateDict() } : {}),
          rng: { seed: o.seed },
          tokenizer: llm.tokenizerToHF(tok),
        },
      },
      o.keepCheckpoints,
    )

  const tokensPerStep = B * o.gradAccum * T
  const progress = new TrainProgress({
    total: o.steps,
    first: start + 1,
    tokensPerStep,
    stream: io.progress,
    ...(o.logEvery > 0 ? { logEvery: o.logEvery } : {}),
  })
  const losses: [number, number][] = []
  const t0 = performance.now()
  let lastCkpt = ''
  let tokensPerSecond = Number.NaN
  const last = Math.min(o.steps, o.stopAfter ?? o.steps)
  // a resume at or past --steps trains nothing: it evaluates and exports the checkpoint
  for (let s = start + 1; s <= last; s++) {
    const { x, y } = sampler.next()
    const lr = sched.lastLr()[0]!
    const [loss] = step(
      new Tensor(x, { shape: [B * o.gradAccum, T] }),
      new Tensor(y, { shape: [B * o.gradAccum, T] }),
    )
    const l = Number(await loss!.item())
    sched.step()
    if (!Number.isFinite(l)) throw new Error(`the loss is ${l} at step ${s}: lower --lr or raise --warmup`)
    losses.push([s, l])
    history.train.push([s, l])
    progress.update(s, l, lr)
    tokensPerSecond = progress.tokensPerSecond(s)
    const pause = performance.now()
    if (o.evalEvery > 0 && s % o.evalEvery === 0 && s < o.steps) {
      const v = await validate()
      history.val.push([s, v])
      progress.validation(v)
    }
    if (o.saveEvery > 0 && s % o.saveEvery === 0 && s < last) lastCkpt = await checkpoint(s)
    progress.exclude(performance.now() - pause)
  }
  progress.done()
  if (last < o.steps) {
    lastCkpt = await checkpoint(last)
    say(`stopped after step ${last} of ${o.steps}: checkpoint ${lastCkpt} (continue with --resume)`)
    const trainSeconds = (performance.now() - t0) / 1000
    return {
      losses,
      history,
      finalValLoss: Number.NaN,
      unigramValEntropy: unigram,
      tokensPerSecond,
      trainSeconds,
      sample: '',
      paths: { gguf: '', hfDir: '', plot: '', checkpoint: lastCkpt },
    }
  }
  const trainSeconds = (performance.now() - t0) / 1000
  const finalValLoss = await validate()
  if (history.val.at(-1)?.[0] !== o.steps) history.val.push([o.steps, finalValLoss])
  lastCkpt = await checkpoint(o.steps)
  say(
    `validation loss ${finalValLoss.toFixed(3)} nats/token (perplexity ${Math.exp(finalValLoss).toFixed(1)}); ` +
      `unigram baseline ${unigram.toFixed(3)}`,
  )

  const plot = join(out, 'loss.svg')
  writeFileSync(
    plot,
    lossPlotSVG(history, `train-llama ${o.preset}: ${(parameterCount(model) / 1e6).toFixed(1)}M parameters`, {
      label: `unigram entropy ${unigram.toFixed(2)}`,
      value: unigram,
    }),
  )
  const config: llm.LLMConfig = {
    arch: 'llama',
    vocabSize: model.vocabSize,
    dim: model.dim,
    layers: model.layers,
    heads: model.heads,
    kvHeads: model.kvHeads,
    headDim: model.dim / model.heads,
    hidden: model.hidden,
    normEps: model.normEps,
    ropeTheta: model.ropeTheta,
    ropeLayout: 'neox',
    contextLength: T,
    tiedEmbeddings: model.tiedEmbeddings,
  }
  const exported = await llm.exportModel(out, { config, weights: m.weights(), tokenizer: tok })
  let sample = ''
  if (o.sampleTokens > 0) {
    const lm = await llm.load(exported.gguf)
    const gen = lm.generate(o.prompt, {
      maxTokens: Math.min(o.sampleTokens, T - 8),
      temperature: 0.8,
      topK: 40,
      seed: o.seed,
    })
    for await (const piece of gen) sample += piece
    sample = o.prompt + sample
    say(`sample: ${sample}`)
  }
  say(
    `wrote ${exported.gguf}, ${exported.hfDir}, ${plot}; chat with: npx tsgrad llm --model ${exported.gguf}`,
  )
  return {
    losses,
    history,
    finalValLoss,
    unigramValEntropy: unigram,
    tokensPerSecond,
    trainSeconds,
    sample,
    paths: { gguf: exported.gguf, hfDir: exported.hfDir, plot, checkpoint: lastCkpt },
  }
}
