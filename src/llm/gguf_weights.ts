// A GGUF file's tensors as the model reads them: by llama.cpp's names, with the bytes each takes in
// the file (for weightBytes) and the block bytes of quantized ones (for picking rows, ./rows.ts).
// Mixtral files written before llama.cpp stacked the experts (early 2024) hold one tensor per
// expert, `blk.N.ffn_gate.E.weight`: those are stacked here into `blk.N.ffn_gate_exps.weight`,
// block bytes concatenated, so quantized experts stay quantized.
import type { GGUFFile } from '../nn/gguf.js'
import { dequantize, ggmlTypeByName } from '../nn/gguf_quant.js'
import { Tensor } from '../tensor/index.js'
import type { QuantBlocks } from './rows.js'
import type { LLMConfig } from './types.js'

export interface GGUFWeights {
  tensors: Record<string, Tensor>
  bytes: Map<Tensor, number>
  blocks: Map<Tensor, QuantBlocks>
}

export function ggufWeights(file: GGUFFile, c: LLMConfig): GGUFWeights {
  const tensors = Object.assign(Object.create(null), file.tensors) as Record<string, Tensor>
  const bytes = new Map<Tensor, number>()
  const blocks = new Map<Tensor, QuantBlocks>()
  const infos = new Map(file.tensorInfos.map((i) => [i.name, i]))
  for (const info of file.tensorInfos) {
    const t = file.tensors[info.name]
    if (!t) continue
    bytes.set(t, info.nbytes)
    const type = ggmlTypeByName(info.type)
    const raw = file.blocks?.[info.name]
    if (type?.dequant && raw) blocks.set(t, { type, blocks: raw })
  }
  const E = c.experts?.count ?? 0
  for (let l = 0; E > 0 && l < c.layers; l++)
    for (const kind of ['gate', 'up', 'down']) {
      const stacked = `blk.${l}.ffn_${kind}_exps.weight`
      const names = Array.from({ length: E }, (_, e) => `blk.${l}.ffn_${kind}.${e}.weight`)
      if (Object.hasOwn(tensors, stacked) || !names.every((n) => Object.hasOwn(tensors, n))) continue
      const parts = names.map((n) => tensors[n]!)
      const total = names.reduce((a, n) => a + (infos.get(n)?.nbytes ?? 0), 0)
      const q = parts.map((p) => blocks.get(p))
      let t: Tensor
      if (q.every((b) => b !== undefined && b.type === q[0]!.type)) {
        const raw = Tensor.cat(
          q.map((b) => b!.blocks),
          0,
        )
          .contiguous()
          .realize()
        t = dequantize(q[0]!.type, raw, [E, ...parts[0]!.shape])
        blocks.set(t, { type: q[0]!.type, blocks: raw })
      } else t = Tensor.stack(parts, 0).contiguous().realize()
      tensors[stacked] = t
      bytes.set(t, total)
    }
  return { tensors, bytes, blocks }
}
