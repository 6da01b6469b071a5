// The STAGE opt's rewrite (opts.ts): loads the invocations of a GPU workgroup share go through
// workgroup memory. After WORKGROUP made a 2-D workgroup of register tiles (a matmul: 8 x 8
// invocations of 8 x 8 outputs) and STAGE split the reduce axis into an outer loop and a k-deep
// inner one, every invocation reads a row panel of A and a column panel of B that a whole row or
// column of the workgroup reads too. Per outer step the workgroup copies the k-deep tile of each
// such operand into a DEFINE_LOCAL array (each invocation a share of the elements, neighbouring
// invocations neighbouring elements), a barrier, then the inner loop reads the tile there; a
// barrier before the copy keeps the last step's readers from seeing it overwritten.
//
//   LOAD(g, idx(ranges))  ->  LOAD(AFTER(tile, BARRIER(copies)), tileIndex(tile ranges))
//   copies: STORE(AFTER(tile, BARRIER(outer)), t, LOAD(g, idx at the tile ranges of element t))
//           for t = invocation + c * invocations, c = 0 .. tile size / invocations - 1
import { dtypes } from '../dtype.js'
import { execAlu } from '../uop/exec.js'
import { ALU, type LocalArg, Ops, type RangeArg, UOp } from '../uop/ops.js'
import { substitute, toposort } from '../uop/rewrite.js'
import { rangeDeps } from './linearize.js'

const kindOf = (r: UOp): RangeArg['kind'] => (r.arg as RangeArg).kind
const sizeOf = (r: UOp): number => r.src[0]!.constValue
/** ranges a staged load may depend on besides its tile's: one value per workgroup and step */
const FIXED: ReadonlySet<RangeArg['kind']> = new Set(['global'])
/** ranges that index within a tile: the workgroup's, and the straight-line copies of a step */
const TILE: ReadonlySet<RangeArg['kind']> = new Set(['local', 'upcast', 'unroll', 'chain'])

interface Staged {
  load: UOp
  /** the ranges indexing the tile, outermost first (the last has the smallest global stride) */
  tile: UOp[]
}

function evalAt(u: UOp, at: ReadonlyMap<UOp, number>, memo: Map<UOp, number>): number {
  const m = memo.get(u)
  if (m !== undefined) return m
  let v = 0
  if (u.op === Ops.CONST) v = u.constValue
  else if (u.op === Ops.RANGE) v = at.get(u) ?? 0
  else if (ALU.has(u.op))
    v = execAlu(
      u.op,
      u.dtype,
      u.src.map((s) => evalAt(s, at, memo)),
    )
  memo.set(u, v)
  return v
}

/** The tile ranges ordered by their stride in the load's index, largest first. */
function tileOrder(load: UOp, ranges: UOp[]): UOp[] {
  const idx = load.src[1]!
  const base = evalAt(idx, new Map(), new Map())
  const stride = new Map(ranges.map((r) => [r, Math.abs(evalAt(idx, new Map([[r, 1]]), new Map()) - base)]))
  return [...ranges].sort(
    (a, b) => stride.get(b)! - stride.get(a)! || (a.arg as RangeArg).id - (b.arg as RangeArg).id,
  )
}

/**
 * The loads of `ast` worth staging when reduce range `inner` (of length `k`, or its own) is the
 * inner loop: float loads from a global buffer that depend on it, otherwise only on ranges fixed
 * per workgroup and step (`outer`, the global ones, the reduce's loops around it) and tile ranges (the workgroup's `locals`, expanded
 * copies: a register tile's, a convolution window's CHAIN), not on every local range (no invocation would share them), whose tile the workgroup
 * copies in whole shares.
 */
export function stagedLoads(ast: UOp, inner: UOp, locals: readonly UOp[], outer?: UOp, k?: number): Staged[] {
  const topo = toposort([ast])
  const deps = rangeDeps(topo)
  const invocations = locals.reduce((a, l) => a * sizeOf(l), 1)
  // the loops of the same reduce outside the staged one (a convolution's window around its
  // channels) are fixed for a step too
  const red = topo.find((u) => u.op === Ops.REDUCE && u.src.includes(inner))
  const enclosing = new Set(red ? red.src.slice(1, red.src.indexOf(outer ?? inner)) : [])
  const fixed = (r: UOp): boolean => r === outer || enclosing.has(r) || FIXED.has(kindOf(r))
  const out: Staged[] = []
  for (const u of topo) {
    if (u.op !== Ops.LOAD || u.src[0]!.op !== Ops.DEFINE_GLOBAL || !u.dtype.isFloat) continue
    const d = deps.get(u)!
    if (!d.has(inner) || locals.every((l) => d.has(l))) continue
    if (![...d].every((r) => r === inner || fixed(r) || TILE.has(kindOf(r)))) continue
    const ranges = [...d].filter((r) => r === inner || TILE.has(kindOf(r)))
    const size = ranges.reduce((a, r) => a * (r === inner && k !== undefined ? k : sizeOf(r)), 1)
    if (size % invocations !== 0) continue
    out.push({ load: u, tile: tileOrder(u, ranges) })
  }
  return out
}

/** Total elements of the tiles STAGE would make (for the workgroup-memory budget). */
export function stagedElements(ast: UOp, inner: UOp, locals: readonly UOp[], k: number): number {
  return stagedLoads(ast, inner, locals, undefined, k).reduce(
    (a, s) => a + s.tile.reduce((b, r) => b * (r === inner ? k : sizeOf(r)), 1),
    0,
  )
}

/** Stage the shared loads of `ast` (see the file comment); DEFINE_LOCALs numbered from `firstId`. */
export function stageLoads(
  ast: UOp,
  outer: UOp,
  inner: UOp,
  locals: readonly UOp[],
  firstId: number,
): { ast: UOp; arrays: number } {
  const staged = stagedLoads(ast, inner, locals, outer)
  const idt = inner.dtype
  const c = (v: number): UOp => UOp.const(idt, v)
  // the invocation's index in the workgroup: the last local range fastest (renderer/wgsl.ts)
  let invocation = c(0)
  let invocations = 1
  for (let j = locals.length - 1; j >= 0; j--) {
    invocation = invocation.add(locals[j]!.mul(invocations))
    invocations *= sizeOf(locals[j]!)
  }
  // (the loop's range as a source: the barrier is placed inside the outer loop)
  const before = UOp.new(Ops.BARRIER, dtypes.void, [outer])
  // every tile's copies, then one barrier, then the reads
  const tiles: { load: UOp; buf: UOp; at: UOp }[] = []
  const copies: UOp[] = []
  staged.forEach(({ load, tile }, i) => {
    const sizes = tile.map(sizeOf)
    const size = sizes.reduce((a, b) => a * b, 1)
    const strides = sizes.map((_, j) => sizes.slice(j + 1).reduce((a, b) => a * b, 1))
    const buf = UOp.new(Ops.DEFINE_LOCAL, load.dtype, [], { id: firstId + i, size } satisfies LocalArg)
    const into = UOp.new(Ops.AFTER, load.dtype, [buf, before])
    for (let k = 0; k < size / invocations; k++) {
      const t = invocation.add(k * invocations)
      // element t's tile coordinates: (t % stride of the range before) / own stride
      const at = new Map(tile.map((r, j) => [r, (j === 0 ? t : t.mod(strides[j - 1]!)).idiv(strides[j]!)]))
      copies.push(UOp.new(Ops.STORE, load.dtype, [into, t, substitute(load, at)]))
    }
    tiles.push({ load, buf, at: tile.reduce((a, r, j) => a.add(r.mul(strides[j]!)), c(0)) })
  })
  if (!tiles.length) return { ast, arrays: 0 }
  const copied = UOp.new(Ops.BARRIER, dtypes.void, copies)
  const fixes = new Map<UOp, UOp>()
  for (const { load, buf, at } of tiles)
    fixes.set(load, UOp.new(Ops.LOAD, load.dtype, [UOp.new(Ops.AFTER, load.dtype, [buf, copied]), at]))
  return { ast: substitute(ast, fixes), arrays: tiles.length }
}
