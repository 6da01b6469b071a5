// A minimal ONNX (protobuf) writer for the benchmark peers: just the ModelProto fields needed to
// describe a graph of standard ops with float inputs and initializers.

type Field = [number, 'varint' | 'bytes' | 'fixed32', number | Uint8Array | string]

function varint(n: number): number[] {
  const out: number[] = []
  let v = BigInt(n)
  if (v < 0n) v += 1n << 64n
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v) b |= 0x80
    out.push(b)
  } while (v)
  return out
}

function msg(fields: Field[]): Uint8Array {
  const parts: number[] = []
  for (const [num, kind, value] of fields) {
    if (kind === 'varint') parts.push(...varint((num << 3) | 0), ...varint(value as number))
    else if (kind === 'fixed32') {
      const b = new Uint8Array(new Float32Array([value as number]).buffer)
      parts.push(...varint((num << 3) | 5), ...b)
    } else {
      const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : (value as Uint8Array)
      parts.push(...varint((num << 3) | 2), ...varint(bytes.length))
      for (const x of bytes) parts.push(x)
    }
  }
  return Uint8Array.from(parts)
}

export interface OnnxNode {
  op: string
  inputs: string[]
  outputs: string[]
  ints?: Record<string, number[]>
  int?: Record<string, number>
}

const valueInfo = (name: string, shape: number[]): Uint8Array =>
  msg([
    [1, 'bytes', name],
    [
      2,
      'bytes',
      msg([
        [
          1,
          'bytes',
          msg([
            [1, 'varint', 1], // FLOAT
            [2, 'bytes', msg(shape.map((d) => [1, 'bytes', msg([[1, 'varint', d]])] as Field))],
          ]),
        ],
      ]),
    ],
  ])

function nodeProto(n: OnnxNode, i: number): Uint8Array {
  const f: Field[] = [
    ...n.inputs.map((x) => [1, 'bytes', x] as Field),
    ...n.outputs.map((x) => [2, 'bytes', x] as Field),
    [3, 'bytes', `n${i}`],
    [4, 'bytes', n.op],
  ]
  for (const [name, v] of Object.entries(n.int ?? {}))
    f.push([
      5,
      'bytes',
      msg([
        [1, 'bytes', name],
        [20, 'varint', 2],
        [3, 'varint', v],
      ]),
    ])
  for (const [name, vs] of Object.entries(n.ints ?? {}))
    f.push([
      5,
      'bytes',
      msg([[1, 'bytes', name], [20, 'varint', 7], ...vs.map((v) => [8, 'varint', v] as Field)]),
    ])
  return msg(f)
}

/** Serialized ONNX model (opset 17). Constants are float scalars given as initializers. */
export function onnxModel(
  nodes: OnnxNode[],
  inputs: Record<string, number[]>,
  outputs: Record<string, number[]>,
  scalars: Record<string, number> = {},
): Uint8Array {
  const graph: Field[] = nodes.map((n, i) => [1, 'bytes', nodeProto(n, i)] as Field)
  graph.push([2, 'bytes', 'g'])
  for (const [name, v] of Object.entries(scalars))
    graph.push([
      5,
      'bytes',
      msg([
        [2, 'varint', 1],
        [8, 'bytes', name],
        [9, 'bytes', new Uint8Array(new Float32Array([v]).buffer)],
      ]),
    ])
  for (const [name, shape] of Object.entries(inputs)) graph.push([11, 'bytes', valueInfo(name, shape)])
  for (const [name, shape] of Object.entries(outputs)) graph.push([12, 'bytes', valueInfo(name, shape)])
  return msg([
    [1, 'varint', 8],
    [
      8,
      'bytes',
      msg([
        [1, 'bytes', ''],
        [2, 'varint', 17],
      ]),
    ],
    [7, 'bytes', msg(graph)],
  ])
}
