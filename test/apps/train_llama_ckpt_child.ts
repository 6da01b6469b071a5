// Child process of the SIGKILL test: saves checkpoints of ~8 MB tensors filled with the step number
// in a loop, printing `saving N` before each save, from the step after the latest one on.
import { loadLatestCheckpoint, saveCheckpoint } from '../../src/apps/train_llama/checkpoint.ts'
import { Tensor } from '../../src/index.ts'

const root = process.argv[2]!
const latest = await loadLatestCheckpoint(root)
for (let step = (latest?.step ?? 0) + 1; ; step++) {
  const fill = (n: number) => Tensor.full([n], step).realize()
  process.stdout.write(`saving ${step}\n`)
  await saveCheckpoint(root, step, {
    tensors: { model: { a: fill(1 << 20), b: fill(1 << 19) }, optimizer: { m: fill(1 << 20) } },
    json: { run: { step, text: 'x'.repeat(1000) }, sampler: { drawn: step } },
  })
}
