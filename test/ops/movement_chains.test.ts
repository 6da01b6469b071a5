// Random movement-op chains against numpy (test/fixtures/movement_chains.json, from
// scripts/gen_movement_chains.py): each chain starts from an int32 arange, applies reshape /
// permute / expand / pad / shrink / flip / get / cat / ... as numpy did, sometimes ends in a fused
// reduce or elementwise op, and must give numpy's values exactly. Catches wrong index math: a
// div/mod folding rule off by one reads a neighbouring (or out-of-bounds) element.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type IndexItem, Tensor } from '../../src/index.ts'
import { readData } from '../helpers.ts'

type Op = [string, ...any[]]
interface Chain {
  name: string
  shape: number[]
  ops: Op[]
  out: { shape: number[]; data: number[] }
}

const here = dirname(fileURLToPath(import.meta.url))
const chains = (
  JSON.parse(readFileSync(join(here, '..', 'fixtures', 'movement_chains.json'), 'utf8')) as { cases: Chain[] }
).cases

function apply(x: Tensor, [op, ...a]: Op): Tensor {
  switch (op) {
    case 'reshape':
      return x.reshape(a[0])
    case 'permute':
      return x.permute(a[0])
    case 'expand':
      return x.expand(a[0])
    case 'pad':
      return x.pad(a[0], { value: a[1] })
    case 'shrink':
      return x.shrink(a[0])
    case 'flip':
      return x.flip(a[0])
    case 'get':
      return x.get(...(a[0] as IndexItem[]))
    case 'take': {
      // one int-tensor index on axis a[0] (numpy take)
      const items: IndexItem[] = x.shape.map((_, i) =>
        i === a[0] ? new Tensor(a[1], { dtype: 'int32' }) : ':',
      )
      return x.get(...items)
    }
    case 'catFlipped':
      return Tensor.cat([x, x.flip(a[0])], a[0])
    case 'transpose':
      return x.transpose(a[0], a[1])
    case 'flatten':
      return x.flatten(a[0], a[1])
    case 'unflatten':
      return x.unflatten(a[0], a[1])
    case 'squeeze':
      return x.squeeze(a[0])
    case 'unsqueeze':
      return x.unsqueeze(a[0])
    case 'repeat':
      return x.repeat(a[0])
    case 'split':
      return x.split(a[0], a[1])[a[2]]!
    case 'contiguous':
      return x.contiguous()
    case 'sum':
      return x.sum(a[0])
    case 'max':
      return x.max(a[0])
    case 'mulAdd':
      return x.mul(a[0]).add(a[1])
    case 'addFlipped':
      return x.add(x.flip(a[0]))
  }
  throw new Error(`movement chain: unknown op '${op}'`)
}

// the source is a buffer (the index math addresses loads: a wrong index reads a wrong or
// out-of-bounds element) and a lazy arange (the index math is folded into the computed values)
const sources: Record<string, (n: number) => Tensor> = {
  buffer: (n) => new Tensor(Int32Array.from({ length: n }, (_, i) => i)).realize(),
  arange: (n) => Tensor.arange(n, undefined, undefined, { dtype: 'int32' }),
}

for (const [source, make] of Object.entries(sources))
  describe(`movement chains from a ${source} (numpy)`, () => {
    for (const c of chains)
      test(c.name, async () => {
        let x = make(c.shape.reduce((p, d) => p * d, 1)).reshape(c.shape)
        for (const op of c.ops) x = apply(x, op)
        const where = `${c.name} from a ${source}: ${c.ops.map((o) => JSON.stringify(o)).join(' -> ')}`
        assert.deepEqual([...x.shape], c.out.shape, `${where}: shape`)
        const got = await readData(x)
        const bad = got.findIndex((v, i) => v !== c.out.data[i])
        assert.equal(bad, -1, `${where}: element ${bad} is ${got[bad]}, numpy says ${c.out.data[bad]}`)
      })
  })
