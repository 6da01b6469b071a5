// Child process of the SIGKILL test: saves checkpoints of ~40 MB of tensors filled with the step
// number in a loop (so it spends nearly all its time inside saves), printing `saving N` before each
// save, from the step after the latest one on.
import { loadLatestCheckpoint, saveCheckpoint } from '../../src/apps/train_llama/checkpoint.ts'
import { Tensor } from '../../src/index.ts'

const root = process.argv[2]!
const latest = await loadLatestCheckpoint(root)
for (let step = (latest?.step ?? 0) + 1; ; step++) {
  const fill = (n: number) => Tensor.full([n], step).realize()
  const tensors = { model: { a: fill(1 << 22), b: fill(1 << 21) }, optimizer: { m: fill(1 << 22) } }
  process.stdout.write(`saving ${step}\n`)
  await saveCheckpoint(root, step, {
    tensors,
    json: { run: { step, text: 'x'.repeat(1000) }, sampler: { drawn: step } },
  })
}
