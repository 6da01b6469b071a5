// A micro LLaMA shape and data shared by the train-llama tests (small enough to compile quickly;
// every test uses the same shapes, so kernels come from the disk cache after the first).
import type { ModelShape } from '../../src/apps/train_llama/presets.ts'
import { Tensor } from '../../src/index.ts'

export const MICRO: ModelShape = {
  vocabSize: 300,
  dim: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  hidden: 64,
  seqLen: 16,
  tiedEmbeddings: true,
  normEps: 1e-5,
  ropeTheta: 10000,
}

/** A deterministic batch (n, T) of token ids with a learnable pattern (next = f(previous)). */
export function patternBatch(
  seed: number,
  n: number,
  T = MICRO.seqLen,
  V = MICRO.vocabSize,
): [Tensor, Tensor] {
  const x = new Int32Array(n * T)
  const y = new Int32Array(n * T)
  for (let r = 0; r < n; r++) {
    let t = (seed * 31 + r * 17) % V
    for (let i = 0; i < T; i++) {
      x[r * T + i] = t
      t = (t * 7 + 3) % V
      y[r * T + i] = t
    }
  }
  return [new Tensor(x, { shape: [n, T] }), new Tensor(y, { shape: [n, T] })]
}

const WORDS =
  'the of and to a in that is was he for it with as his on be at by had are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(
    ' ',
  )

/** Pseudo-English text of `lines` lines from a seeded word chain (a corpus for BPE and the sampler). */
export function microCorpus(lines: number, seed = 1): string {
  let s = seed >>> 0
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
  const out: string[] = []
  for (let l = 0; l < lines; l++) {
    const n = 6 + Math.floor(rnd() * 10)
    const ws: string[] = []
    for (let i = 0; i < n; i++) ws.push(WORDS[Math.floor(rnd() * WORDS.length)]!)
    ws[0] = ws[0]![0]!.toUpperCase() + ws[0]!.slice(1)
    out.push(`${ws.join(' ')}.`)
  }
  return `${out.join('\n')}\n`
}
