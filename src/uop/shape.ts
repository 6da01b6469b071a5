// Shape inference for tensor-graph nodes. Kernel-IR nodes have no shape (undefined).
// The front end validates user input and throws readable errors; these checks guard the IR itself.
import type { UOp } from './ops.js'

type PadArg = { pads: [number, number][]; value: number }

export function inferShape(op: string, src: readonly UOp[], arg: unknown): readonly number[] | undefined {
  switch (op) {
    case 'BUFFER':
      return [(arg as { size: number }).size]
    case 'CONST':
      return src.length ? [] : undefined
    case 'IOTA':
      return [arg as number]
    case 'RESHAPE':
    case 'EXPAND':
      return arg as number[]
    case 'PERMUTE': {
      const s = src[0]!.shape!
      return (arg as number[]).map((i) => s[i]!)
    }
    case 'PAD': {
      const s = src[0]!.shape!
      return (arg as PadArg).pads.map(([b, a], i) => s[i]! + b + a)
    }
    case 'SHRINK':
      return (arg as [number, number][]).map(([b, e]) => e - b)
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
      return undefined
    default: {
      // elementwise / structural: the first source's shape, if it is a tensor node
      if (src.length === 0) return undefined
      const s = src[src.length === 3 ? 1 : 0]!.shape
      return s
    }
  }
}
