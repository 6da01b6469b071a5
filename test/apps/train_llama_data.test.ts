// The train-llama app's data: the Brown corpus read and detokenized, --data files and folders (and
// their errors), the train/validation split, the token stream, and the batch sampler's resume.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import {
  BatchSampler,
  detokenizeBrown,
  readCorpus,
  splitTrainVal,
  tokenizeDocs,
} from '../../src/apps/train_llama/data.ts'
import { TsgradError } from '../../src/index.ts'
import { trainBPE } from '../../src/llm/bpe_train.ts'

const tmp = mkdtempSync(join(tmpdir(), 'tsgrad-data-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

const isErr = (re: RegExp) => (e: unknown) => e instanceof TsgradError && re.test(e.message)

test('detokenizeBrown: tags stripped, punctuation and quotes joined to their words, paragraphs kept', () => {
  const tagged =
    "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, that/cs Atlanta's/np$ (/( 1961/cd )/) vote/nn --/-- 12''/nn ''/'' won/vbn by/in Ivan/np Allen/np Jr./np ./.\n" +
    "``/`` Where/wrb ''/'' ?/. ?/. he/pps asked/vbd ``/`` why/wrb ''/'' ./.\n" +
    "Is/bez it/pps 1/2/cd done/vbn ?/. ?/.\n\n\n\tHe/pps said/vbd '/' fine/jj '/' ;/. and/cc left/vbd !/.\n\n\n" +
    'Thirty-three/cd-hl \nScotty/np did/dod not/* go/vb ./.\n'
  assert.equal(
    detokenizeBrown(tagged),
    'The jury said "no evidence," that Atlanta\'s (1961) vote -- 12" won by Ivan Allen Jr. "Where?" he asked "why." Is it 1/2 done?\n\n' +
      "He said 'fine'; and left!\n\nThirty-three\nScotty did not go.",
  )
})

test('readCorpus(): the whole Brown corpus as 500 plain-text documents; trainBPE and tokenizeDocs on it take seconds', () => {
  const t0 = performance.now()
  return readCorpus().then((docs) => {
    const readMs = performance.now() - t0
    assert.equal(docs.length, 500)
    const chars = docs.reduce((n, d) => n + d.length, 0)
    assert.ok(chars > 5_500_000 && chars < 6_500_000, `${chars} characters`)
    assert.ok(docs[0]!.startsWith('The Fulton County Grand Jury said Friday an investigation of'))
    assert.ok(
      docs[0]!.includes('produced "no evidence" that any irregularities took place.\n\nThe jury further'),
    )
    // no tags left: word/tag tokens would leave '/nn', '/at', '/in' everywhere
    const all = docs.join('\n')
    // (one token of the corpus, 'material/hr./*0F./in./nil', is itself broken)
    assert.ok((all.match(/\/(?:nn|at|in|vbd|np)\b/g)?.length ?? 0) <= 1)
    assert.equal(all.match(/``|''| ,| \./g)?.length ?? 0, 0)
    const t1 = performance.now()
    const tok = trainBPE(docs, { vocabSize: 4096 })
    const trainMs = performance.now() - t1
    const t2 = performance.now()
    const stream = tokenizeDocs(tok, docs)
    const tokenizeMs = performance.now() - t2
    console.log(
      `# Brown: read ${readMs.toFixed(0)} ms, trainBPE(4096) ${trainMs.toFixed(0)} ms, tokenizeDocs ${tokenizeMs.toFixed(0)} ms, ${stream.length} tokens`,
    )
    assert.equal(tok.vocabSize, 4096)
    // ~3.6 characters per token for a 4k vocabulary on English text
    assert.ok(stream.length > chars / 5 && stream.length < chars / 2.5, `${stream.length} tokens`)
    assert.equal(stream.filter((t) => t === tok.eos).length, 500)
    // generous bounds for a loaded machine; the brief asks for well under a minute
    assert.ok(trainMs < 45_000, `trainBPE took ${trainMs} ms`)
    assert.ok(tokenizeMs < 30_000, `tokenizeDocs took ${tokenizeMs} ms`)
  })
})

test('readCorpus(file | folder): UTF-8 text documents; missing, empty and non-UTF-8 inputs are clear errors', async () => {
  const file = join(tmp, 'one.txt')
  writeFileSync(file, '\uFEFFHello world.\r\nSecond line ü.\r\n')
  assert.deepEqual(await readCorpus(file), ['Hello world.\nSecond line ü.\n'])
  const dir = join(tmp, 'docs')
  mkdirSync(dir)
  writeFileSync(join(dir, 'b.txt'), 'second document')
  writeFileSync(join(dir, 'a.md'), 'first document')
  writeFileSync(join(dir, '.hidden'), '\xff\xfe binary')
  mkdirSync(join(dir, 'sub'))
  assert.deepEqual(await readCorpus(dir), ['first document', 'second document'])

  await assert.rejects(readCorpus(join(tmp, 'nope.txt')), isErr(/nope\.txt does not exist/))
  writeFileSync(join(tmp, 'empty.txt'), ' \n\n')
  await assert.rejects(readCorpus(join(tmp, 'empty.txt')), isErr(/empty\.txt is empty/))
  writeFileSync(join(tmp, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x21]))
  await assert.rejects(
    readCorpus(join(tmp, 'latin1.txt')),
    isErr(/latin1\.txt is not UTF-8 text \(invalid byte 0xe9 at offset 3\)/),
  )
  mkdirSync(join(tmp, 'void'))
  await assert.rejects(readCorpus(join(tmp, 'void')), isErr(/has no files/))
  await assert.rejects(readCorpus(''), isErr(/expected a file or folder path/))
})

test('splitTrainVal: deterministic by seed, disjoint, covering, in corpus order; one document splits at a line', () => {
  const docs = Array.from({ length: 50 }, (_, i) => `doc ${i}`)
  const a = splitTrainVal(docs, 0.1, 7)
  assert.deepEqual(a, splitTrainVal(docs, 0.1, 7))
  assert.equal(a.val.length, 5)
  assert.equal(a.train.length, 45)
  assert.deepEqual([...a.train, ...a.val].sort(), [...docs].sort())
  const idx = (d: string): number => Number(d.slice(4))
  assert.ok(a.val.every((d, i) => i === 0 || idx(a.val[i - 1]!) < idx(d)))
  assert.notDeepEqual(splitTrainVal(docs, 0.1, 8).val, a.val)
  assert.deepEqual(splitTrainVal(docs, 0, 1), { train: docs, val: [] })
  assert.equal(splitTrainVal(['a', 'b'], 0.01, 1).val.length, 1)
  const one = splitTrainVal(['line one\nline two\nline three\nline four\n'], 0.25, 1)
  assert.deepEqual(one, { train: ['line one\nline two\nline three\n'], val: ['line four\n'] })
  assert.throws(() => splitTrainVal(docs, 1, 1), isErr(/valFraction must be in \[0, 1\)/))
  assert.throws(() => splitTrainVal(docs, 0.1, 1.5), isErr(/seed must be an integer/))
  assert.throws(() => splitTrainVal([], 0.1, 1), isErr(/no documents/))
})

test('tokenizeDocs: each document encoded as plain text, then EOS', () => {
  const tok = trainBPE(['hello world, hello there'], { vocabSize: 270 })
  const docs = ['hello world', 'a <|end_of_text|> in text', '']
  const ids = tokenizeDocs(tok, docs)
  const eos = tok.eos!
  const ends = [...ids.keys()].filter((i) => ids[i] === eos)
  assert.equal(ends.length, 3)
  assert.equal(ends[2], ids.length - 1)
  let start = 0
  for (const [i, end] of ends.entries()) {
    assert.equal(tok.decode([...ids.subarray(start, end)]), docs[i])
    start = end + 1
  }
  const noEos = trainBPE(['x'], { vocabSize: 260, specialTokens: ['<s>'] })
  assert.throws(() => tokenizeDocs(noEos, ['x']), isErr(/no EOS token/))
})

test('BatchSampler: y is x shifted by one; seeded; state()/setState() resume the same batches', () => {
  const tokens = Int32Array.from({ length: 1000 }, (_, i) => i)
  const s = new BatchSampler(tokens, { batch: 4, seqLen: 16, seed: 3 })
  const first = s.next()
  assert.equal(first.x.length, 64)
  for (let b = 0; b < 4; b++) {
    const o = first.x[b * 16]!
    assert.ok(o >= 0 && o <= 1000 - 17)
    for (let t = 0; t < 16; t++) {
      assert.equal(first.x[b * 16 + t], o + t)
      assert.equal(first.y[b * 16 + t], o + t + 1)
    }
  }
  const saved = JSON.parse(JSON.stringify(s.state()))
  const next3 = [s.next(), s.next(), s.next()]
  const resumed = new BatchSampler(tokens, { batch: 4, seqLen: 16, seed: 999 })
  resumed.setState(saved)
  for (const want of next3) assert.deepEqual(resumed.next(), want)
  assert.equal(resumed.batchesDrawn, 4)
  const again = new BatchSampler(tokens, { batch: 4, seqLen: 16, seed: 3 })
  assert.deepEqual(again.next(), first)
  // every start offset is drawn, the last one included
  const small = new BatchSampler(Int32Array.from([0, 1, 2, 3]), { batch: 64, seqLen: 2, seed: 1 })
  assert.deepEqual(new Set(small.next().x.filter((_, i) => i % 2 === 0)), new Set([0, 1]))

  assert.throws(
    () => new BatchSampler(tokens, { batch: 0, seqLen: 4, seed: 1 }),
    isErr(/batch must be a positive integer/),
  )
  assert.throws(
    () => new BatchSampler(tokens.subarray(0, 8), { batch: 1, seqLen: 8, seed: 1 }),
    isErr(/too few/),
  )
  assert.throws(
    () => new BatchSampler([1, 2] as never, { batch: 1, seqLen: 1, seed: 1 }),
    isErr(/Int32Array/),
  )
  assert.throws(
    () => new BatchSampler(tokens, { batch: 1, seqLen: 4, seed: 1, shuffle: true } as never),
    isErr(/unknown option 'shuffle'/),
  )
  assert.throws(() => resumed.setState({ ...saved, seqLen: 8 }), isErr(/other seqLen \(8 vs 16\)/))
  assert.throws(() => resumed.setState({ rng: -1 } as never), isErr(/expected a state\(\) object/))
})
