// Node colors by op group, shared by the graph view and its legend.
export const GROUPS: readonly { name: string; color: string; ops: readonly string[] }[] = [
  {
    name: 'buffer',
    color: '#8fb8ed',
    ops: ['BUFFER', 'DEVICE', 'DEFINE_GLOBAL', 'COPY', 'ASSIGN', 'CONTIGUOUS', 'DETACH'],
  },
  { name: 'load/store', color: '#6fa8dc', ops: ['LOAD', 'STORE'] },
  { name: 'const', color: '#d9d9d9', ops: ['CONST', 'IOTA'] },
  { name: 'movement', color: '#f6d06e', ops: ['RESHAPE', 'PERMUTE', 'EXPAND', 'PAD', 'SHRINK', 'FLIP'] },
  { name: 'reduce', color: '#f4a582', ops: ['REDUCE_AXIS', 'REDUCE', 'DEFINE_ACC', 'ACC_UPDATE'] },
  { name: 'loop', color: '#c9a0dc', ops: ['RANGE', 'ENDRANGE'] },
  { name: 'cast', color: '#b6d7a8', ops: ['CAST', 'BITCAST'] },
  { name: 'sink', color: '#ffffff', ops: ['SINK'] },
]
const ALU_COLOR = '#93d3a2'
const byOp = new Map<string, string>()
for (const g of GROUPS) for (const op of g.ops) byOp.set(op, g.color)

/** Fill color of a node; every other op is ALU math. */
export const opColor = (op: string): string => byOp.get(op) ?? ALU_COLOR
export const LEGEND = [
  ...GROUPS.map((g) => ({ name: g.name, color: g.color })),
  { name: 'alu', color: ALU_COLOR },
]
