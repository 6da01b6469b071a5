import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { dtypes } from '../../src/dtype.ts'
import { internStats, Ops, UOp } from '../../src/uop/ops.ts'
import { Buffer } from '../../src/runtime/buffer.ts'
import { graphRewrite, PatternMatcher, rule, toposort, UPat } from '../../src/uop/rewrite.ts'
import { symbolic } from '../../src/uop/symbolic.ts'
import { simplifyGatedIndices } from '../../src/uop/valid.ts'

const i32 = (v: number) => UOp.const(dtypes.int32, v)
const simplify = (u: UOp) => graphRewrite(u, symbolic, undefined, 'symbolic')

describe('interning', () => {
  test('the same node built twice is the same object', () => {
    const r = UOp.range(10, 0, 'global')
    const a = r.mul(4).add(3)
    const b = UOp.range(10, 0, 'global').mul(4).add(3)
    assert.equal(a, b)
    assert.equal(a.key, b.key)
  })
  test('different structure gives different nodes and keys', () => {
    const r = UOp.range(10, 0, 'global')
    assert.notEqual(r.add(1), r.add(2))
    assert.notEqual(r.add(1).key, r.add(2).key)
    assert.notEqual(i32(0), UOp.const(dtypes.float32, 0))
  })
  test('nodes with several sources, repeated sources and any source count intern', () => {
    const [a, b] = [UOp.range(4, 0, 'global'), UOp.range(5, 1, 'global')]
    assert.equal(a.where(b, a), a.where(b, a))
    assert.notEqual(a.where(b, a), a.where(a, b))
    assert.equal(a.add(a), a.add(a))
    const sink = (...s: UOp[]) => UOp.new(Ops.SINK, dtypes.void, s)
    assert.equal(sink(a, b), sink(a, b))
    assert.notEqual(sink(a, b), sink(a, b, a))
    assert.notEqual(sink(a), sink(a, a))
  })
  test('identity args: a buffer, a unique tag', () => {
    const buf = new Buffer('JS', 4, dtypes.float32)
    const other = new Buffer('JS', 4, dtypes.float32)
    const node = (x: Buffer) => UOp.new(Ops.BUFFER, dtypes.float32, [], x)
    assert.equal(node(buf), node(buf))
    assert.notEqual(node(buf), node(other))
    const tag = { tag: 1 }
    const c = UOp.new(Ops.CONTIGUOUS, dtypes.float32, [node(buf)], tag)
    assert.equal(UOp.new(Ops.CONTIGUOUS, dtypes.float32, [node(buf)], tag), c)
    assert.equal(c.replace({ src: [node(buf)] }), c)
    assert.notEqual(UOp.new(Ops.CONTIGUOUS, dtypes.float32, [node(other)], tag), c)
    assert.notEqual(UOp.new(Ops.CONTIGUOUS, dtypes.float32, [node(buf)], { tag: 2 }), c)
  })
  test('the leaf table drops leaves nobody holds', { skip: !globalThis.gc }, async () => {
    const before = internStats().leaves
    for (let i = 0; i < 5000; i++) UOp.const(dtypes.int32, 1e6 + i)
    for (let i = 0; i < 2; i++) {
      globalThis.gc!()
      await new Promise((r) => setImmediate(r)) // WeakRefs made in this job pin until it ends
    }
    assert.ok(internStats().leaves < before + 100, `${internStats().leaves - before} leaves left`)
  })
  test('keys are structural (stable hash of op, dtype, arg, sources)', () => {
    const k = UOp.range(7, 3, 'reduce').mul(2).key
    assert.match(k, /^[0-9a-z]+$/)
    assert.equal(UOp.range(7, 3, 'reduce').mul(2).key, k)
  })
})

describe('graphRewrite', () => {
  test('rules fire to a fixed point, indexed by op', () => {
    const pm = new PatternMatcher([
      rule(UPat.op(Ops.ADD, [UPat.var('x'), UPat.const(0)]), ({ x }) => x),
      rule(UPat.op(Ops.MUL, [UPat.var('x'), UPat.const(1)]), ({ x }) => x),
    ])
    const r = UOp.range(5, 0, 'global')
    const e = r.add(0).mul(1).add(0).mul(1)
    assert.equal(graphRewrite(e, pm, undefined, 'test'), r)
  })
  test('rules record where they were written', () => {
    const rl = rule(UPat.var('x'), () => undefined)
    assert.match(rl.location, /uop\.test\.ts:\d+/)
  })
  test('a 10,000-deep chain rewrites without overflowing the stack', () => {
    let e: UOp = UOp.range(3, 0, 'global')
    for (let i = 0; i < 10000; i++) e = e.add(0)
    const pm = new PatternMatcher([rule(UPat.op(Ops.ADD, [UPat.var('x'), UPat.const(0)]), ({ x }) => x)])
    assert.equal(graphRewrite(e, pm, undefined, 'deep'), UOp.range(3, 0, 'global'))
    assert.equal(toposort([e]).length, 10000 + 3)
  })
  test('commutative patterns match either order', () => {
    const pm = new PatternMatcher([
      rule(UPat.op(Ops.MUL, [UPat.var('x'), UPat.const(0)], { commutative: true }), ({ x }) =>
        x!.constLike(0),
      ),
    ])
    const r = UOp.range(5, 0, 'global')
    assert.equal(graphRewrite(UOp.new(Ops.MUL, dtypes.int32, [i32(0), r]), pm, undefined, 't'), i32(0))
  })
})

describe('symbolic', () => {
  const r0 = UOp.range(4, 0, 'global')
  const r1 = UOp.range(6, 1, 'global')
  test('constant folding and identities', () => {
    assert.equal(simplify(i32(3).add(4).mul(2)), i32(14))
    assert.equal(simplify(r0.add(0).mul(1)), r0)
    assert.equal(simplify(r0.mul(0)), i32(0))
  })
  test('value ranges', () => {
    assert.deepEqual(r0.mul(6).add(r1).vrange, [0, 23])
    assert.deepEqual(r0.mod(3).vrange, [0, 2])
  })
  test('div and mod fold when the remainder stays in range', () => {
    const flat = r0.mul(6).add(r1)
    assert.equal(simplify(flat.idiv(6)), r0)
    assert.equal(simplify(flat.mod(6)), r1)
    assert.equal(simplify(r1.idiv(6)), i32(0))
    assert.equal(simplify(r1.mod(6)), r1)
  })
  test('nested div/mod of a reshape round trip fold back to the ranges', () => {
    // (4, 6) -> flat -> (2, 12) -> flat -> (4, 6)
    const flat = r0.mul(6).add(r1)
    const a = flat.idiv(12).mod(2)
    const b = flat.mod(12)
    const flat2 = a.mul(12).add(b)
    assert.equal(simplify(flat2.idiv(6).mod(4)), r0)
    assert.equal(simplify(flat2.mod(6)), r1)
    assert.equal(simplify(flat2), simplify(flat))
  })
  test('comparisons decided by ranges fold', () => {
    assert.equal(simplify(r0.lt(4)), UOp.const(dtypes.bool, 1))
    assert.equal(simplify(r0.lt(0)), UOp.const(dtypes.bool, 0))
  })
})

describe('gated_index', () => {
  // a padded view: x[(r0 * 20 + r1 - 4) // 20] read only where 4 <= r1 < 24
  const r0 = UOp.range(512, 0, 'global')
  const r1 = UOp.range(28, 1, 'global')
  const buf = UOp.new(Ops.DEFINE_GLOBAL, dtypes.float32, [], 1)
  const idx = graphRewrite(r0.mul(20).add(r1).sub(4).idiv(20), symbolic)
  const gate = UOp.const(dtypes.int32, 3).lt(r1).and(r1.lt(24))
  test('a gated load index folds under its gate', () => {
    const load = UOp.new(Ops.LOAD, dtypes.float32, [buf, idx, gate])
    const out = simplifyGatedIndices(load)
    assert.equal(out.src[1], r0)
    assert.equal(out.src[2], gate)
  })
  test('an ungated load, or a gate that does not bound the range, is left alone', () => {
    const plain = UOp.new(Ops.LOAD, dtypes.float32, [buf, idx])
    assert.equal(simplifyGatedIndices(plain), plain)
    const loose = UOp.new(Ops.LOAD, dtypes.float32, [buf, idx, r0.lt(100)])
    assert.equal(simplifyGatedIndices(loose).src[1], idx)
  })
})
