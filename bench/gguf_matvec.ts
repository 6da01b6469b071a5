// Decode matvec on quantized weights: y = x (1, 2048) @ W.T with W (8192, 2048) loaded from GGUF
// as Q8_0, Q4_0 and F16, next to a plain copy kernel of the same number of bytes in the same run.
// The matvec is timed on the plain user path: median of `y = f(x); await y.data()`, outputs not
// disposed. The copy (a float32 `neg` kernel over as many bytes as the weights) is realized and
// disposed (its buffer comes back from the pool: the best copy bandwidth, a conservative yardstick);
// both alternate in one loop so they see the same machine load. Reports GB/s of weight bytes read
// and the matvec's % of the copy's bandwidth (read + written bytes / time).
//   node --import tsx bench/gguf_matvec.ts        (also `npm run bench matvec`)
import { nn, Tensor } from '../src/index.ts'

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** Median times of `matvec` (plain path) and `copy` (realized, disposed), measured alternately. */
async function timePair(matvec: () => Tensor, copy: () => Tensor, n: number): Promise<[number, number]> {
  const tm: number[] = []
  const tc: number[] = []
  for (let i = 0; i < n + 3; i++) {
    let t0 = performance.now()
    const y = matvec()
    await y.data()
    if (i >= 3) tm.push(performance.now() - t0)
    t0 = performance.now()
    const c = copy().realize()
    if (i >= 3) tc.push(performance.now() - t0)
    c.dispose()
  }
  return [median(tm), median(tc)]
}

export async function ggufMatvec(rows = 8192, cols = 2048, n = 25): Promise<string[][]> {
  Tensor.manualSeed(0)
  const w = Tensor.randn([rows, cols]).mul(0.05).realize()
  const x = Tensor.randn([1, cols]).realize()
  const out: string[][] = []
  for (const type of ['Q8_0', 'Q4_0', 'F16'] as const) {
    const file = nn.ggufParse(await nn.ggufSerialize({ tensors: { w } }, type))
    const W = file.tensors.w!
    const bytes = file.tensorInfos[0]!.nbytes
    const src = Tensor.randn([bytes / 4]).realize()
    const [ms, copyMs] = await timePair(
      () => x.matmul(W.T),
      () => src.neg(),
      n,
    )
    const gbs = bytes / ms / 1e6
    const copyGbs = (2 * bytes) / copyMs / 1e6
    const row = [
      `matvec (1, ${cols}) @ ${type} (${rows}, ${cols}).T`,
      `${ms.toFixed(3)} ms`,
      `${gbs.toFixed(1)} GB/s of weights`,
      `copy of ${(bytes / 1e6).toFixed(1)} MB ${copyMs.toFixed(3)} ms (${copyGbs.toFixed(1)} GB/s r+w)`,
      `${((gbs / copyGbs) * 100).toFixed(0)}% of copy bandwidth`,
    ]
    console.log(row.join(' | '))
    out.push(row)
  }
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) await ggufMatvec()
