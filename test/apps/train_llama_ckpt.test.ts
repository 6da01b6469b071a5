// train-llama checkpoints: training 2N steps equals N steps + --resume + N steps, loss for loss and
// weight for weight (jit on: the resumed run captures again); a process killed by SIGKILL while it
// saves leaves the previous checkpoint as the loadable latest; a corrupt checkpoint is an error.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseTrainArgs, type TrainLlamaOptions } from '../../src/apps/train_llama/args.ts'
import { loadLatestCheckpoint } from '../../src/apps/train_llama/checkpoint.ts'
import { trainLlama } from '../../src/apps/train_llama/run.ts'
import { MICRO, microCorpus } from './train_llama_micro.ts'

const here = dirname(fileURLToPath(import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'tsgrad-train-llama-ckpt-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const corpus = join(tmp, 'corpus.txt')
writeFileSync(corpus, microCorpus(400))

function opts(out: string, extra: string[]): TrainLlamaOptions {
  const m = MICRO
  const argv = [
    ...['--preset', 'tiny', '--data', corpus, '--out', join(tmp, out), '--steps', '6', '--warmup', '2'],
    ...['--vocab-size', String(m.vocabSize), '--dim', String(m.dim), '--layers', String(m.layers)],
    ...['--heads', String(m.heads), '--kv-heads', String(m.kvHeads), '--hidden', String(m.hidden)],
    ...['--seq-len', String(m.seqLen), '--batch-size', '4', '--attention', 'math'],
    ...[
      '--eval-every',
      '2',
      '--eval-batches',
      '1',
      '--save-every',
      '0',
      '--sample-tokens',
      '0',
      '--val-fraction',
      '0.1',
    ],
    ...extra,
  ]
  const o = parseTrainArgs(argv)
  assert.ok(o !== 'help')
  return o
}
const quiet = { progress: { write: () => true } }

describe('train-llama checkpoints', () => {
  test('2N steps == N steps + resume + N steps (same losses and weights, bit for bit)', async () => {
    const full = await trainLlama(opts('full', []), quiet)
    const first = await trainLlama(opts('split', ['--stop-after', '3']), quiet)
    const rest = await trainLlama(opts('split', ['--resume']), quiet)
    assert.deepEqual(
      [...first.losses, ...rest.losses].map(([s, l]) => [s, l]),
      full.losses,
    )
    assert.deepEqual(rest.history.val, full.history.val)
    assert.equal(rest.finalValLoss, full.finalValLoss)
    assert.ok(full.losses.at(-1)![1] < full.losses[0]![1], 'the loss went down')
    const a = await loadLatestCheckpoint(join(tmp, 'full', 'checkpoints'))
    const b = await loadLatestCheckpoint(join(tmp, 'split', 'checkpoints'))
    assert.equal(a!.step, 6)
    assert.equal(b!.step, 6)
    for (const [name, t] of Object.entries(a!.tensors.model!))
      assert.deepEqual(await b!.tensors.model![name]!.data(), await t.data(), name)
    for (const f of ['model.gguf', 'loss.svg', 'tokenizer.json', 'config.json'])
      assert.ok(existsSync(join(tmp, 'full', f)), `${f} written`)
    // a second run into the same folder without --resume is refused before any work
    await assert.rejects(trainLlama(opts('full', []), quiet), /already holds a training run: pass --resume/)
  })

  test('SIGKILL during a save leaves the previous checkpoint loadable as the latest', async () => {
    const root = join(tmp, 'killed')
    let midSave = 0
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = (await loadLatestCheckpoint(root))?.step ?? 0
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(here, 'train_llama_ckpt_child.ts'), root],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      )
      // kill once this process has saved twice, at a varying moment (it is nearly always saving)
      await new Promise<void>((resolve) => {
        let seen = 0
        child.stdout.on('data', (d: Buffer) => {
          const before = seen
          seen += (d.toString().match(/saving/g) ?? []).length
          if (before < 3 && seen >= 3) setTimeout(() => child.kill('SIGKILL'), 10 + attempt * 30)
        })
        child.on('exit', () => resolve())
      })
      const tmpLeft = readdirSync(root).some((e) => e.startsWith('.tmp-'))
      if (tmpLeft) midSave++
      const latest = await loadLatestCheckpoint(root)
      assert.ok(latest, 'a checkpoint is loadable')
      assert.ok(latest.step >= before + 2, `latest ${latest.step} after ${before}`)
      const a = (await latest.tensors.model!.a!.data()) as Float32Array
      assert.equal(a.length, 1 << 22)
      assert.ok(
        a.every((v) => v === latest.step),
        'the tensors are those of the step the pointer names',
      )
      assert.deepEqual(latest.json.sampler, { drawn: latest.step })
    }
    assert.ok(midSave > 0, 'at least one kill landed inside a save (a temporary folder was left)')
  })

  test('a damaged checkpoint is an error naming the file', async () => {
    const root = join(tmp, 'killed')
    const latest = JSON.parse(readFileSync(join(root, 'latest.json'), 'utf8')) as { dir: string }
    truncateSync(join(root, latest.dir, 'optimizer.safetensors'), 100)
    await assert.rejects(
      loadLatestCheckpoint(root),
      /optimizer\.safetensors is missing or has the wrong length/,
    )
    writeFileSync(join(root, 'latest.json'), '{"dir": "../etc"}')
    await assert.rejects(loadLatestCheckpoint(root), /latest\.json names no step folder/)
  })
})
