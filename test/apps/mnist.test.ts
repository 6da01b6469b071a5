// The MNIST app: option parsing, the progress display, the CLI process (--help, bad options) and
// short end-to-end runs on the real data (loss goes down, the saved safetensors file loads back).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DEFAULTS, parseArgs, type TrainOptions } from '../../src/apps/mnist/cli.ts'
import { MnistCnn, MnistMlp } from '../../src/apps/mnist/model.ts'
import { formatDuration, Progress } from '../../src/apps/mnist/progress.ts'
import { checkOutPath, evaluate, trainMnist } from '../../src/apps/mnist/trainer.ts'
import { nn, Tensor } from '../../src/index.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const tmp = mkdtempSync(join(tmpdir(), 'tsgrad-mnist-app-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

describe('options', () => {
  test('defaults and every option', () => {
    assert.deepEqual(parseArgs([]), DEFAULTS)
    const o = parseArgs(
      '--steps 7 --batch-size=64 --lr 0.002 --device cpu --seed 3 --out m.st --overwrite --data d --test-size 500 --log-every 2 --no-jit --model mlp'.split(
        ' ',
      ),
    )
    assert.deepEqual(o, {
      model: 'mlp',
      steps: 7,
      batchSize: 64,
      lr: 0.002,
      device: 'cpu',
      seed: 3,
      out: 'm.st',
      outGiven: true,
      overwrite: true,
      data: 'd',
      testSize: 500,
      logEvery: 2,
      jit: false,
    })
    assert.equal(parseArgs(['--help']), 'help')
    assert.equal(parseArgs(['--steps', '3', '-h']), 'help')
    assert.equal((parseArgs(['--model', 'mlp']) as TrainOptions).out, 'mnist_mlp.safetensors')
  })

  test('bad values say which option and what is accepted', () => {
    const bad: [string[], RegExp][] = [
      [['--steps', '0'], /--steps: expected an integer >= 1, got '0'/],
      [['--steps', '1.5'], /--steps: expected an integer/],
      [['--batch-size', 'many'], /--batch-size: expected an integer in \[1, 60000\], got 'many'/],
      [['--batch-size', '60001'], /--batch-size/],
      [['--lr', '-1'], /--lr: expected a number in \(0, 10\], got '-1'/],
      [['--lr', 'abc'], /--lr/],
      [['--lr='], /--lr/],
      [['--steps'], /--steps: missing value/],
      [['--steps', '--lr', '1'], /--steps: missing value/],
      [['--model', 'resnet'], /--model: expected cnn or mlp, got 'resnet'/],
      [['--device', 'C P U'], /--device: not a device name/],
      [['--test-size', '10001'], /--test-size/],
      [['--overwrite=yes'], /--overwrite takes no value/],
      [['--epochs', '3'], /unknown option '--epochs' \(see --help\)/],
      [['train'], /unknown option 'train'/],
    ]
    for (const [argv, re] of bad) assert.throws(() => parseArgs(argv), re, argv.join(' '))
  })

  test('an existing file given with --out is refused before training, unless --overwrite', () => {
    const p = join(tmp, 'existing.safetensors')
    writeFileSync(p, 'x')
    const o = parseArgs(['--out', p]) as TrainOptions
    assert.throws(() => checkOutPath(o), /already exists \(pass --overwrite to replace it\)/)
    assert.equal(checkOutPath({ ...o, overwrite: true }), p)
  })
})

describe('progress', () => {
  function sink(isTTY: boolean) {
    const out: string[] = []
    return { out, stream: { isTTY, columns: 120, write: (s: string) => out.push(s) } }
  }

  test('terminal: one line redrawn with a bar, stats and ETA from the steps after the first', () => {
    const { out, stream } = sink(true)
    let now = 0
    const p = new Progress({ total: 4, batchSize: 100, stream, now: () => now })
    now = 5000 // the first step compiles: 5 s
    p.update(1, { loss: 2.3, acc: 0.1 })
    now = 6000 // then 1 s per step
    p.update(2, { loss: 1.5, acc: 0.5 })
    p.done()
    assert.equal(out.length, 3)
    assert.match(out[0]!, /^\rstep 1\/4 \[#+\.+\] {2}loss 2\.3000 {2}acc 10\.0% {2}20 samples\/s {2}ETA \?/)
    assert.ok(out[0]!.endsWith('ETA ?\x1b[K'), 'the line is cleared to its end')
    assert.match(out[1]!, /^\rstep 2\/4 \[#+\.+\] {2}loss 1\.5000 {2}acc 50\.0% {2}100 samples\/s {2}ETA 2s/)
    assert.equal(out[2], '\n')
  })

  test('pipe: plain lines every logEvery steps, plus the first and the last', () => {
    const { out, stream } = sink(false)
    let now = 0
    const p = new Progress({ total: 10, batchSize: 8, stream, logEvery: 4, now: () => now })
    for (let i = 1; i <= 10; i++) {
      now += 1000
      p.update(i, { loss: 1 / i, acc: i / 10 })
    }
    p.done()
    assert.deepEqual(
      out.map((l) => l.match(/^step +(\d+)\/10 /)?.[1]),
      ['1', '4', '8', '10'],
    )
    assert.ok(out.every((l) => l.endsWith('\n') && !l.includes('\r')))
    assert.match(out[1]!, /loss 0\.2500 {2}acc 40\.0% {2}8 samples\/s {2}elapsed 4s {2}ETA 6s/)
  })

  test('pipe: a line at least every logSeconds', () => {
    const { out, stream } = sink(false)
    let now = 0
    const p = new Progress({ total: 100, batchSize: 1, stream, logEvery: 50, logSeconds: 10, now: () => now })
    for (let i = 1; i <= 5; i++) {
      now += 6000
      p.update(i, { loss: 1, acc: 1 })
    }
    assert.equal(out.length, 3) // step 1, then after 12 s (step 3), after 24 s (step 5)
  })

  test('durations', () => {
    assert.equal(formatDuration(0), '0s')
    assert.equal(formatDuration(59.6), '1m00s')
    assert.equal(formatDuration(3725), '1h02m05s')
    assert.equal(formatDuration(Number.NaN), '?')
  })
})

describe('command line', () => {
  const cwd = join(tmp, 'cli')
  mkdirSync(cwd)
  const cli = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(root, 'src/apps/mnist/train.ts'), ...args],
      {
        encoding: 'utf8',
        cwd: tmp,
      },
    )

  test('--help prints the options and exits 0', () => {
    const r = cli('--help')
    assert.equal(r.status, 0, r.stderr)
    for (const opt of ['--steps', '--batch-size', '--lr', '--device', '--seed', '--out']) {
      assert.ok(r.stdout.includes(opt), `--help lacks ${opt}`)
    }
  })

  test('a bad option exits 2 with the reason on stderr; an unusable device exits 1', () => {
    const r = cli('--batch-size', '0')
    assert.equal(r.status, 2)
    assert.match(r.stderr, /^error: --batch-size: expected an integer/)
    const d = cli('--device', 'TPU', '--steps', '1')
    assert.equal(d.status, 1)
    assert.match(d.stderr, /--device: TPU cannot run here: not registered/)
    const m = cli('--data', join(tmp, 'nowhere'), '--steps', '1')
    assert.equal(m.status, 1)
    assert.match(m.stderr, /MNIST: missing file .*nowhere.*train-images-idx3-ubyte/)
    assert.deepEqual(readdirSync(cwd), [], 'failed runs write nothing')
  })
})

describe('training end to end (real MNIST, short runs)', () => {
  const quiet = () => {
    const lines: string[] = []
    return {
      lines,
      io: { progress: { write: (s: string) => lines.push(s) }, log: (s: string) => lines.push(s) },
    }
  }

  test('the CNN: loss goes down over a few small steps; the safetensors file loads back', async () => {
    const out = join(tmp, 'cnn.safetensors')
    const { lines, io } = quiet()
    const o: TrainOptions = {
      ...DEFAULTS,
      steps: 8,
      batchSize: 16,
      lr: 3e-3,
      testSize: 200,
      out,
      logEvery: 4,
    }
    const r = await trainMnist(o, io)
    assert.equal(r.losses.length, 8)
    assert.ok(
      r.losses.every((l) => Number.isFinite(l)),
      `losses ${r.losses}`,
    )
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length
    assert.ok(
      mean(r.losses.slice(-3)) < mean(r.losses.slice(0, 3)) - 0.3,
      `loss did not go down: ${r.losses}`,
    )
    assert.ok(r.testAccuracy > 0.3, `test accuracy ${r.testAccuracy} after 8 steps`)
    assert.ok(lines.some((l) => l.startsWith('step 8/8 ')))
    assert.ok(existsSync(out) && !readdirSync(tmp).some((f) => f.endsWith('.tmp')))

    // the file holds every tensor of the state dict; loaded into a fresh model it scores the same
    const loaded = await nn.safeLoad(out)
    const fresh = new MnistCnn()
    const want = nn.getStateDict(fresh)
    assert.deepEqual(Object.keys(loaded).sort(), Object.keys(want).sort())
    assert.ok(Object.keys(loaded).includes('bn1.running_mean') && Object.keys(loaded).includes('fc.weight'))
    nn.loadStateDict(fresh, loaded)
    const data = nn.datasets.mnist()
    assert.equal(await evaluate(fresh, data.test, 200, 'image', o.batchSize), r.testAccuracy)
    assert.equal(Tensor.training, false)
  })

  test('evaluation at the training batch size reuses the training step’s kernels', () => {
    // in a process of its own: what it compiles must not depend on what other tests compiled
    const src = join(root, 'src')
    const script = `
      const { nn, optim, Tensor } = await import(${JSON.stringify(`${src}/index.ts`)})
      const { stats } = await import(${JSON.stringify(`${src}/engine/realize.ts`)})
      const { MnistCnn } = await import(${JSON.stringify(`${src}/apps/mnist/model.ts`)})
      const { evaluate } = await import(${JSON.stringify(`${src}/apps/mnist/trainer.ts`)})
      const data = nn.datasets.mnist()
      const model = new MnistCnn()
      const opt = new optim.Adam(nn.getParameters(model), { lr: 1e-3 })
      const { x, y } = nn.datasets.mnistBatch(data.test, Int32Array.from({ length: 24 }, (_, i) => i))
      Tensor.training = true
      opt.zeroGrad()
      const loss = model.call(x).sparseCategoricalCrossentropy(y)
      loss.backward()
      Tensor.realize(loss, ...opt.scheduleStep())
      await loss.item()
      Tensor.training = false
      const before = stats.kernelsCompiled
      // 40 images in batches of 24: the second is padded with 8 copies labelled -1
      const acc = await evaluate(model, data.test, 40, 'image', 24)
      const compiled = stats.kernelsCompiled - before
      console.log(JSON.stringify({ compiled, acc, one: await evaluate(model, data.test, 40, 'image', 40) }))`
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
      encoding: 'utf8',
      timeout: 300_000,
    })
    assert.equal(r.status, 0, r.stderr.slice(-3000))
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      compiled: number
      acc: number
      one: number
    }
    // new: BatchNorm's scale from its running statistics (the second BatchNorm's fused with the
    // pooling after it), the hits and their count; the convolutions, the first pooling and the linear
    // layer are the training step's (with a last batch of 16 of its own shape: 13 new kernels)
    assert.equal(o.compiled, 4)
    // the padding never counts: the same accuracy as all 40 in one batch
    assert.equal(o.acc, o.one)
  })

  test('the MLP learns: > 85% on 500 test images after 40 steps', async () => {
    const out = join(tmp, 'mlp.safetensors')
    const o: TrainOptions = {
      ...DEFAULTS,
      model: 'mlp',
      steps: 40,
      batchSize: 64,
      lr: 2e-3,
      testSize: 500,
      out,
    }
    const r = await trainMnist(o, quiet().io)
    assert.ok(r.testAccuracy > 0.85, `test accuracy ${r.testAccuracy}`)
    const loaded = await nn.safeLoad(out)
    assert.deepEqual(Object.keys(loaded).sort(), Object.keys(nn.getStateDict(new MnistMlp())).sort())
  })
})
