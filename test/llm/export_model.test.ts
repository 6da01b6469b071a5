// exportModel: tiny random LLaMAs in Hugging Face names (test/fixtures/export_model, written by
// scripts/gen_export_model_fixtures.py with a float64 numpy forward pass of the HF weights) are
// exported; `llm.load` of the GGUF and of the folder give the reference's logits and the trained
// tokenizer's encodings. Bad input is a TsgradError naming what is wrong.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { llm, nn, type Tensor, TsgradError } from '../../src/index.ts'
import { trainBPE } from '../../src/llm/bpe_train.ts'
import { exportModel } from '../../src/llm/export_model.ts'
import type { LLMConfig, Tokenizer } from '../../src/llm/types.ts'
import { allclose } from '../helpers.ts'

const FIX = join(import.meta.dirname, '..', 'fixtures', 'export_model')
interface Model {
  name: string
  config: LLMConfig
  prompt: number[]
  logits: number[]
}
const MODELS = JSON.parse(readFileSync(join(FIX, 'models.json'), 'utf8')) as Model[]
const BPE = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'bpe_train.json'), 'utf8'),
) as { corpus: string[]; encodeTexts: string[] }

const tmp = mkdtempSync(join(tmpdir(), 'tsgrad-export-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const isErr = (re: RegExp) => (e: unknown) => e instanceof TsgradError && re.test(e.message)

const tokenizer = (): Tokenizer => trainBPE(BPE.corpus, { vocabSize: 300 })
const tol = (ref: number[]) => {
  const big = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 1)
  return { rtol: 1e-4, atol: 2e-5 * big }
}
// ChatML's template (recognised by its markers; the text is stored as given)
const TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

for (const m of MODELS) {
  test(`exportModel ${m.name}: llm.load(gguf) logits == llm.load(folder) logits == the numpy reference`, async () => {
    const tok = tokenizer()
    assert.equal(tok.vocabSize, m.config.vocabSize)
    const weights = await nn.safeLoad(join(FIX, `${m.name}.safetensors`))
    const out = join(tmp, m.name)
    const { gguf, hfDir } = await exportModel(out, {
      config: m.config,
      weights,
      tokenizer: tok,
      chatTemplate: TEMPLATE,
    })
    assert.equal(gguf, join(out, 'model.gguf'))
    assert.equal(hfDir, out)
    assert.deepEqual(readdirSync(out).sort(), [
      'config.json',
      'generation_config.json',
      'model.gguf',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ])
    const file = await nn.ggufLoad(gguf)
    assert.equal(file.metadata['general.architecture'], 'llama')
    assert.equal(file.metadataTypes['llama.rope.freq_base'], 'FLOAT32')
    assert.equal(
      file.tensorInfos.some((t) => t.name === 'output.weight'),
      !m.config.tiedEmbeddings,
    )
    assert.equal(
      file.tensorInfos.some((t) => t.name === 'rope_freqs.weight'),
      m.config.ropeScaling !== undefined,
    )
    const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    assert.equal(hfConfig.tie_word_embeddings, m.config.tiedEmbeddings)
    assert.equal(file.metadata['tokenizer.chat_template'], TEMPLATE)
    assert.equal(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).chat_template, TEMPLATE)

    for (const path of [gguf, hfDir]) {
      // the reference keeps keys and values unrounded: a float32 KV cache
      const model = await llm.load(path, { kvDtype: 'f32' })
      allclose(await model.logits(m.prompt), m.logits, { ...tol(m.logits), label: `${m.name} ${path}` })
      assert.equal(model.config.tiedEmbeddings, m.config.tiedEmbeddings)
      assert.equal(model.tokenizer.vocabSize, tok.vocabSize)
      assert.equal(model.tokenizer.eos, tok.eos)
      assert.equal(model.tokenizer.bos, tok.bos)
      for (const text of BPE.encodeTexts)
        assert.deepEqual(model.tokenizer.encode(text), tok.encode(text), text)
      assert.equal(model.template?.name, 'chatml', `${path}: the chat template is stored`)
    }
  })
}

test('exportModel ggufDtype f16 (matrices F16, norms F32) and bfloat16 weights: logits within rounding of the reference', async () => {
  const m = MODELS[0]!
  const weights = await nn.safeLoad(join(FIX, `${m.name}.safetensors`))
  const { gguf } = await exportModel(join(tmp, 'f16'), {
    config: m.config,
    weights,
    tokenizer: tokenizer(),
    ggufDtype: 'f16',
  })
  const file = await nn.ggufLoad(gguf)
  const typeOf = (n: string): string | undefined => file.tensorInfos.find((t) => t.name === n)?.type
  assert.equal(typeOf('blk.0.attn_q.weight'), 'F16')
  assert.equal(typeOf('blk.0.attn_norm.weight'), 'F32')
  const model = await llm.load(gguf)
  allclose(await model.logits(m.prompt), m.logits, { rtol: 2e-2, atol: 2e-2, label: 'f16' })
  // bfloat16 weights: stored as BF16 in the safetensors, named in config.json
  const bf16: Record<string, Tensor> = {}
  for (const [n, t] of Object.entries(weights)) bf16[n] = t.cast('bfloat16')
  const { hfDir } = await exportModel(join(tmp, 'bf16'), {
    config: m.config,
    weights: bf16,
    tokenizer: tokenizer(),
  })
  assert.equal(JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8')).torch_dtype, 'bfloat16')
  const header = nn.safeParseHeader(new Uint8Array(readFileSync(join(hfDir, 'model.safetensors'))))
  assert.ok(header.tensors.every((e) => e.dtype === 'BF16'))
  const hf = await llm.load(hfDir)
  allclose(await hf.logits(m.prompt), m.logits, { rtol: 5e-2, atol: 5e-2, label: 'bf16' })
})

test('exportModel: wrong weights, config, tokenizer or options are TsgradErrors naming the problem', async () => {
  const m = MODELS[0]!
  const weights = await nn.safeLoad(join(FIX, `${m.name}.safetensors`))
  const tok = tokenizer()
  const dir = join(tmp, 'bad')
  const without = (name: string): Record<string, Tensor> => {
    const w = { ...weights }
    delete w[name]
    return w
  }
  const cases: [Parameters<typeof exportModel>[1], RegExp][] = [
    [
      { config: m.config, weights: without('model.layers.1.mlp.up_proj.weight'), tokenizer: tok },
      /missing weights: model\.layers\.1\.mlp\.up_proj\.weight/,
    ],
    [
      {
        config: m.config,
        weights: { ...weights, 'model.layers.0.mlp.upproj.weight': weights['model.norm.weight']! },
        tokenizer: tok,
      },
      /unknown weights \(not LlamaForCausalLM names\): model\.layers\.0\.mlp\.upproj\.weight/,
    ],
    [
      {
        config: m.config,
        weights: { ...weights, 'model.norm.weight': weights['model.layers.0.mlp.up_proj.weight']! },
        tokenizer: tok,
      },
      /model\.norm\.weight is \[48, 32\], expected \[32\]/,
    ],
    [
      { config: { ...m.config, vocabSize: 301 }, weights, tokenizer: tok },
      /the tokenizer has 300 tokens but config\.vocabSize is 301/,
    ],
    [
      { config: { ...m.config, tiedEmbeddings: true }, weights, tokenizer: tok },
      /tiedEmbeddings is true but the weights have an lm_head/,
    ],
    [{ config: { ...m.config, arch: 'qwen2' }, weights, tokenizer: tok }, /only dense 'llama' models/],
    [{ config: { ...m.config, heads: 3 }, weights, tokenizer: tok }, /bad config: .*multiple of kvHeads/],
    [
      { config: m.config, weights, tokenizer: {} as Tokenizer },
      /tokenizer must be a byte-level BPE tokenizer/,
    ],
    [
      { config: m.config, weights, tokenizer: tok, ggufDtype: 'q4' as 'f16' },
      /ggufDtype must be 'f32' or 'f16'/,
    ],
    [
      { config: m.config, weights, tokenizer: tok, chat_template: 'x' } as never,
      /unknown option 'chat_template'/,
    ],
  ]
  for (const [opts, re] of cases) await assert.rejects(exportModel(dir, opts), isErr(re))
  // nothing was written by the failed calls
  assert.equal(existsSync(dir), false)
  await assert.rejects(
    exportModel('', { config: m.config, weights, tokenizer: tok }),
    isErr(/output folder path/),
  )
})
