// x // d and x % d for x = k t + R with k dividing d and 0 <= R < k (uop/symbolic.ts foldByTerm):
// the division of a flattened (heads x rows) index that attention's product with v kept per upcast
// copy. Checked at every point of the ranges against plain integer math, and by the shape of the
// result (no division of the whole sum left).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes } from '../../src/dtype.ts'
import { Ops, UOp } from '../../src/uop/ops.ts'
import { graphRewrite, toposort } from '../../src/uop/rewrite.ts'
import { symbolic } from '../../src/uop/symbolic.ts'

const i32 = dtypes.int32
const simplify = (u: UOp): UOp => graphRewrite(u, symbolic, undefined, 'symbolic')
const c = (v: number) => UOp.const(i32, v)

function evalAt(u: UOp, at: Map<UOp, number>): number {
  if (u.op === Ops.RANGE) return at.get(u)!
  if (u.op === Ops.CONST) return u.constValue
  const [a, b] = u.src.map((s) => evalAt(s, at)) as [number, number]
  if (u.op === Ops.ADD) return a + b
  if (u.op === Ops.MUL) return a * b
  if (u.op === Ops.IDIV) return Math.trunc(a / b)
  if (u.op === Ops.MOD) return a % b
  throw new Error(`unexpected ${u.op}`)
}

describe('symbolic: a term whose coefficient divides the divisor', () => {
  const [h, i, j] = [
    UOp.range(32, 0, 'global', i32),
    UOp.range(8, 1, 'global', i32),
    UOp.range(2, 2, 'reduce', i32),
  ]
  const cases: [string, UOp, number][] = [
    [
      '(128h + 16i + j) // 512',
      h
        .mul(c(128))
        .add(i.mul(c(16)))
        .add(j),
      512,
    ],
    [
      '(4096h + 512i + 32j + 65) // 16384',
      h
        .mul(c(4096))
        .add(i.mul(c(512)))
        .add(j.mul(c(32)))
        .add(c(65)),
      16384,
    ],
  ]
  for (const [name, x, d] of cases)
    for (const op of [Ops.IDIV, Ops.MOD]) {
      test(`${name.replace('//', op === Ops.IDIV ? '//' : '%')}: folded to h's quotient / remainder`, () => {
        const y = simplify(UOp.new(op, i32, [x, c(d)]))
        // before: the division of the whole sum stayed (one idiv per upcast copy in the kernel)
        const divs = toposort([y]).filter((u) => u.op === Ops.IDIV || u.op === Ops.MOD)
        assert.equal(divs.length, 1, `one div/mod left, on h alone: got ${divs.length}`)
        assert.equal(divs[0]!.src[0], h)
        for (let a = 0; a < 32; a++)
          for (let b = 0; b < 8; b++)
            for (let e = 0; e < 2; e++) {
              const at = new Map([
                [h, a],
                [i, b],
                [j, e],
              ])
              assert.equal(evalAt(y, at), evalAt(UOp.new(op, i32, [x, c(d)]), at))
            }
      })
    }
  test('not when the rest can reach the coefficient: (128h + 16i + 16j) // 512 with i < 8 keeps the sum', () => {
    const x = h
      .mul(c(128))
      .add(i.mul(c(16)))
      .add(j.mul(c(16)))
    const y = simplify(UOp.new(Ops.IDIV, i32, [x, c(512)]))
    const div = toposort([y]).find((u) => u.op === Ops.IDIV)
    assert.ok(div && div.src[0] !== h)
  })
})
