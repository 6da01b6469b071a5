// Shape inference for tensor-graph nodes. Kernel-IR nodes have no shape (undefined).
// The front end validates user input and throws readable errors; these checks guard the IR itself.
// Sizes may be symbolic (`sint`: an int32 expression of variables); the arithmetic here uses the
// nodes' own builders (this module sits below ops.ts and imports only its types).
import type { sint, UOp } from './ops.js'

type PadArg = { pads: [sint, sint][]; value: number }

function add(a: sint, b: sint): sint {
  if (typeof a === 'number' && typeof b === 'number') return a + b
  if (b === 0) return a
  if (a === 0) return b
  return typeof a === 'number' ? (b as UOp).add(a) : a.add(b)
}
function sub(a: sint, b: sint): sint {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (b === 0) return a
  if (a === b) return 0
  // a window [x, x + k] of a symbolic start has the length k
  if (typeof a !== 'number' && a.op === 'ADD' && a.src[0] === b && a.src[1]!.op === 'CONST')
    return a.src[1]!.arg as number
  return typeof a === 'number' ? (b as UOp).constLike(a).sub(b) : a.sub(b)
}

export function inferShape(op: string, src: readonly UOp[], arg: unknown): readonly sint[] | undefined {
  switch (op) {
    case 'BUFFER':
      return [(arg as { size: number }).size]
    case 'CONST':
      return src.length ? [] : undefined
    case 'IOTA':
      return [arg as number]
    case 'RESHAPE':
    case 'EXPAND':
      return arg as sint[]
    case 'PERMUTE': {
      const s = src[0]!.shape!
      return (arg as number[]).map((i) => s[i]!)
    }
    case 'PAD': {
      const s = src[0]!.shape!
      return (arg as PadArg).pads.map(([b, a], i) => add(add(s[i]!, b), a))
    }
    case 'SHRINK':
      return (arg as [sint, sint][]).map(([b, e]) => sub(e, b))
    case 'REDUCE_AXIS': {
      const axes = (arg as [string, number[]])[1]
      return src[0]!.shape!.map((d, i) => (axes.includes(i) ? 1 : d))
    }
    case 'ASSIGN':
    case 'GATHER':
      return src[1]!.shape
    case 'CUSTOM_GRAD':
      return src[0]!.shape
    case 'CUSTOM_KERNEL':
      return (arg as { shape: readonly number[] }).shape
    case 'DEVICE':
    case 'DEFINE_VAR':
    case 'BIND':
      return undefined
    default: {
      // elementwise / structural: the first source's shape, if it is a tensor node
      if (src.length === 0) return undefined
      const s = src[src.length === 3 ? 1 : 0]!.shape
      return s
    }
  }
}
