// Rows of a weight picked by token ids or expert indices on the device (an indexed load). A
// quantized weight's rows are picked from its block bytes and only those rows are dequantized:
// llama.cpp's get_rows. (Picking rows of the lazy dequantization graph itself reads the same bytes
// for Q8_0/Q4_0, but for the K-quants the scheduler realizes the whole table's dequantization
// first: a Q6_K embedding cost a full float32 copy of the table per decode step.)
import type { GGMLType } from '../nn/gguf_quant.js'
import { dequantize } from '../nn/gguf_quant.js'
import type { Tensor } from '../tensor/index.js'

/** a quantized weight's GGML type and raw block bytes (uint8, as stored in the file) */
export interface QuantBlocks {
  type: GGMLType
  blocks: Tensor
}

/** t (n, ...rest) at rows idx (k) int: (k, ...rest) */
export function gatherRows(t: Tensor, idx: Tensor, q?: QuantBlocks): Tensor {
  if (!q) return t.get(idx)
  const [n, ...rest] = t.shape as [number, ...number[]]
  const rowBytes = q.blocks.shape[0]! / n
  const raw = q.blocks.reshape([n, rowBytes]).get(idx)
  return dequantize(q.type, raw.reshape([idx.shape[0]! * rowBytes]), [idx.shape[0]!, ...rest])
}
