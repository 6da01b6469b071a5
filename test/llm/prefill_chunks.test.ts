// A prompt longer than `prefillChunk` runs layer by layer, each layer over the prompt's chunks in
// order (a chunk attends to the cache the earlier chunks of that layer wrote): the logits equal an
// unchunked prompt's, and each Q8_0/Q4_0 weight is unpacked into its matmul panels once per layer
// and prompt, not once per chunk (run chunk by chunk through all layers, a 512-token prompt in
// chunks of 128 unpacked every weight four times).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { setRealizeObserver } from '../../src/engine/realize.ts'
import { nn } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import type { CustomKernelArg } from '../../src/uop/custom_kernel.ts'
import { Ops } from '../../src/uop/ops.ts'
import { allclose } from '../helpers.ts'
import { argmax, LLM_FIXTURES, logitTol, reference } from './fixtures.ts'

/** the qpanel_* kernels that ran in `f` */
async function panelKernels<T>(f: () => Promise<T>): Promise<[T, number]> {
  let n = 0
  const prev = setRealizeObserver((items) => {
    for (const it of items)
      if (it.node.op === Ops.CUSTOM_KERNEL && (it.node.arg as CustomKernelArg).key.startsWith('qpanel_')) n++
  })
  try {
    return [await f(), n]
  } finally {
    setRealizeObserver(prev)
  }
}

for (const name of ['llama_q4_0', 'llama3_f32', 'qwen3_bf16'])
  test(`${name}: a prompt in chunks of 3 (and a 1-token tail) gives the unchunked logits`, async () => {
    const ref = reference(name)
    const file = await nn.ggufLoad(join(LLM_FIXTURES, `${name}.gguf`))
    const whole = loadGGUFModel(file, { kvDtype: 'f32' })
    const chunked = loadGGUFModel(file, { kvDtype: 'f32', prefillChunk: 3 })
    const n =
      ref.prompt.length % 3 === 1 ? ref.prompt.length : 3 * Math.floor((ref.prompt.length - 1) / 3) + 1
    const prompt = ref.prompt.slice(0, n)
    assert.ok(prompt.length >= 4 && prompt.length % 3 === 1)
    const tol = logitTol(ref)
    allclose(await chunked.logitsAll(prompt), await whole.logitsAll(prompt), {
      ...tol,
      label: 'all positions',
    })
    const last = await chunked.step(prompt, 0)
    allclose(last, await whole.step(prompt, 0), { ...tol, label: 'last position' })
    // decoding goes on from the cache the chunks wrote
    const next = argmax(last)
    allclose(await chunked.step([next], prompt.length), await whole.step([next], prompt.length), {
      ...tol,
      label: 'decode after',
    })
  })

test('a chunked prompt unpacks each quantized weight once per layer, not once per chunk', async () => {
  const file = await nn.ggufLoad(join(LLM_FIXTURES, 'llama_q4_0.gguf'))
  const prompt = reference('llama_q4_0').prompt.slice(0, 7)
  const whole = loadGGUFModel(file, { kvDtype: 'f32' })
  const chunked = loadGGUFModel(file, { kvDtype: 'f32', prefillChunk: 2 })
  const [, once] = await panelKernels(() => whole.step(prompt, 0))
  const [, inChunks] = await panelKernels(() => chunked.step(prompt, 0))
  assert.ok(once > 0, 'the fixture has weights with integer matmul panels')
  assert.equal(inChunks, once, `${Math.ceil(prompt.length / 2)} chunks`)
})
