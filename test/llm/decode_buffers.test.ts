// A decode step's logits buffer comes back at once: the runner reads the logits and disposes the
// step's output, so the next step's output is the same storage, warm, from the pool. Left to the
// GC, each step's output was fresh memory until a collection (page faults of a vocabulary-sized
// buffer per token: 125 for LLaMA-3's 128256 logits, ~1.6 ms of a ~23 ms step on the bench VM).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { Device, nn, Tensor } from '../../src/index.ts'
import { loadGGUFModel } from '../../src/llm/load_model.ts'
import { cpuStorage } from '../../src/runtime/cpu.ts'
import { SLAB_MAX } from '../../src/runtime/cpu_storage.ts'
import { NATIVE_MIN_BYTES } from '../../src/runtime/host_memory.ts'
import { hasCPU } from '../helpers.ts'

// logits between the slab views and the native mappings: a pooled plain buffer
const VOCAB = 4608
const SHAPE = { dim: 64, hidden: 128, heads: 2, kvHeads: 1 }
const skip = (!hasCPU || Device.DEFAULT !== 'CPU') && 'the CPU device is the default device'
const tmp = mkdtempSync(join(tmpdir(), 'tsgrad-decode-buffers-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

/** A one-layer llama GGUF with random float32 weights and `VOCAB` placeholder tokens. */
async function writeModel(path: string): Promise<void> {
  Tensor.manualSeed(3)
  const { dim, hidden, heads, kvHeads } = SHAPE
  const kv = (kvHeads * dim) / heads
  const w = (...shape: number[]) => Tensor.randn(shape).mul(0.1)
  const tensors = new Map<string, Tensor>([
    ['token_embd.weight', w(VOCAB, dim)],
    ['output_norm.weight', Tensor.ones([dim])],
    ['blk.0.attn_norm.weight', Tensor.ones([dim])],
    ['blk.0.attn_q.weight', w(dim, dim)],
    ['blk.0.attn_k.weight', w(kv, dim)],
    ['blk.0.attn_v.weight', w(kv, dim)],
    ['blk.0.attn_output.weight', w(dim, dim)],
    ['blk.0.ffn_norm.weight', Tensor.ones([dim])],
    ['blk.0.ffn_gate.weight', w(hidden, dim)],
    ['blk.0.ffn_up.weight', w(hidden, dim)],
    ['blk.0.ffn_down.weight', w(dim, hidden)],
  ])
  const metadata = {
    'general.architecture': 'llama',
    'llama.context_length': 64,
    'llama.embedding_length': dim,
    'llama.block_count': 1,
    'llama.feed_forward_length': hidden,
    'llama.attention.head_count': heads,
    'llama.attention.head_count_kv': kvHeads,
    'llama.rope.dimension_count': dim / heads,
    'llama.attention.layer_norm_rms_epsilon': 1e-5,
    'llama.vocab_size': VOCAB,
  }
  const u32 = 'UINT32'
  const metadataTypes: Record<string, string> = {
    'llama.context_length': u32,
    'llama.embedding_length': u32,
    'llama.block_count': u32,
    'llama.feed_forward_length': u32,
    'llama.attention.head_count': u32,
    'llama.attention.head_count_kv': u32,
    'llama.rope.dimension_count': u32,
    'llama.attention.layer_norm_rms_epsilon': 'FLOAT32',
    'llama.vocab_size': u32,
  }
  await nn.ggufSave(path, { metadata, metadataTypes, tensors })
}

describe('llm decode: the logits buffer', { skip }, () => {
  test('decode steps take their output from the pool: no fresh buffer per token', async () => {
    assert.ok(VOCAB * 4 > SLAB_MAX && VOCAB * 4 < NATIVE_MIN_BYTES, 'logits are a pooled plain buffer')
    const path = join(tmp, 'tiny.gguf')
    await writeModel(path)
    const m = loadGGUFModel(await nn.ggufLoad(path))
    let logits = await m.step([1, 2, 3], 0)
    // the first one-token steps run eagerly and capture; the replays follow
    for (let p = 3; p < 6; p++) logits = await m.step([p], p)
    const fresh = cpuStorage.counts.fresh
    const kept: Float32Array[] = []
    const copies: Float32Array[] = []
    for (let p = 6; p < 14; p++) {
      kept.push(await m.step([p], p))
      copies.push(kept.at(-1)!.slice())
    }
    assert.equal(cpuStorage.counts.fresh - fresh, 0, 'fresh medium buffers in 8 decode steps')
    // each step's logits stay the caller's: later steps did not write into them
    assert.equal(logits.length, VOCAB)
    assert.deepEqual(kept, copies)
    assert.notDeepEqual(kept[0], kept[1])
  })
})
