// llm.load tells a GGUF file from a Hugging Face folder and says what is wrong with anything else.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { llm, TsgradError } from '../../src/index.ts'

const isErr = (re: RegExp) => (e: Error) => e instanceof TsgradError && re.test(e.message)

describe('llm.load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgrad-load-'))

  test('a path that is neither a .gguf file nor a model folder is a clear error', async () => {
    await assert.rejects(
      llm.load(join(dir, 'nothing.gguf')),
      isErr(/nothing.gguf does not exist \(expected a .gguf file/),
    )
    const text = join(dir, 'notes.txt')
    writeFileSync(text, 'GGU')
    await assert.rejects(
      llm.load(text),
      isErr(/notes.txt is neither a GGUF file .* nor a folder with config.json/),
    )
    const empty = join(dir, 'empty')
    mkdirSync(empty)
    await assert.rejects(
      llm.load(empty),
      isErr(/is a folder but not a Hugging Face model: it lacks config.json, tokenizer.json, \*.safetensors/),
    )
    const partial = join(dir, 'partial')
    mkdirSync(partial)
    writeFileSync(join(partial, 'config.json'), '{}')
    writeFileSync(join(partial, 'model.safetensors'), '')
    await assert.rejects(llm.load(partial), isErr(/it lacks tokenizer.json \(expected/))
    writeFileSync(join(partial, 'tokenizer.json'), '{ not json')
    await assert.rejects(llm.load(partial), isErr(/tokenizer.json is not valid JSON/))
  })

  test('options are checked', async () => {
    await assert.rejects(
      llm.load(dir, { max_context: 5 } as never),
      isErr(/unknown option 'max_context' \(did you mean 'maxContext'\?\)/),
    )
    await assert.rejects(llm.load(dir, { maxContext: 1 }), isErr(/maxContext must be an integer >= 2/))
    await assert.rejects(llm.load(dir, { threads: 0 }), isErr(/threads must be an integer >= 1/))
    await assert.rejects(llm.load(dir, { dtype: '' }), isErr(/dtype must be a type name/))
    await assert.rejects(llm.load(''), isErr(/expected a path/))
  })
})
