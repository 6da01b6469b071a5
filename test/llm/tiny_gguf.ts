// Writes the random-weight TinyLlama of test/llm/helpers.ts as a standard llama GGUF file, as
// llama.cpp's convert_hf_to_gguf.py would: llama.cpp tensor names, q/k rows permuted for the
// "normal" (pairwise) rope (TinyLlama rotates NeoX-style halves), and a byte-level tokenizer in
// GPT-2 form (one token per byte through the bytes-to-unicode table, no merges, control tokens
// after them) that encodes text exactly as the test ByteTokenizer does, plus a ChatML template.
import { nn, type Tensor } from '../../src/index.ts'
import { BOS, EOS, type TinyLlamaRunner } from './helpers.ts'

/** GPT-2's printable stand-ins for the 256 byte values (the token texts of byte-level BPE vocabularies). */
function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
  const out: string[] = []
  let n = 0
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + n++))
  return out
}

export const CHATML_JINJA =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

/** q/k weight rows from HF's rotate-half order to llama.cpp's pairwise order (convert_hf_to_gguf's permute). */
function permuteForNormalRope(w: Tensor, heads: number): Tensor {
  const [out, inp] = w.shape as [number, number]
  return w
    .reshape([heads, 2, out / heads / 2, inp])
    .transpose(1, 2)
    .reshape([out, inp])
}

export async function writeTinyLlamaGGUF(path: string, runner: TinyLlamaRunner): Promise<void> {
  const { model, cfg } = runner
  const tensors: Record<string, Tensor> = {
    'token_embd.weight': model.embed.weight,
    'output_norm.weight': model.norm.weight!,
    'output.weight': model.head.weight,
  }
  model.blocks.forEach((b, i) => {
    const p = `blk.${i}.`
    tensors[`${p}attn_norm.weight`] = b.norm1.weight!
    tensors[`${p}attn_q.weight`] = permuteForNormalRope(b.wq.weight, cfg.heads)
    tensors[`${p}attn_k.weight`] = permuteForNormalRope(b.wk.weight, cfg.kvHeads)
    tensors[`${p}attn_v.weight`] = b.wv.weight
    tensors[`${p}attn_output.weight`] = b.wo.weight
    tensors[`${p}ffn_norm.weight`] = b.norm2.weight!
    tensors[`${p}ffn_gate.weight`] = b.mlp.gate.weight
    tensors[`${p}ffn_up.weight`] = b.mlp.up.weight
    tensors[`${p}ffn_down.weight`] = b.mlp.down.weight
  })
  const specials = ['<s>', '</s>', '<|eot|>', '<|im_start|>', '<|im_end|>']
  const tokens = [...bytesToUnicode(), ...specials]
  const tokenType = Int32Array.from(tokens, (_, i) => (i < 256 ? 1 : 3))
  await nn.ggufSave(path, {
    metadata: {
      'general.architecture': 'llama',
      'general.name': 'tsgrad tiny llama (random weights)',
      'llama.context_length': cfg.maxLen,
      'llama.embedding_length': cfg.dim,
      'llama.block_count': cfg.layers,
      'llama.feed_forward_length': cfg.hidden,
      'llama.attention.head_count': cfg.heads,
      'llama.attention.head_count_kv': cfg.kvHeads,
      'llama.rope.dimension_count': cfg.dim / cfg.heads,
      'llama.rope.freq_base': 10000,
      'llama.attention.layer_norm_rms_epsilon': 1e-6,
      'llama.vocab_size': cfg.vocab,
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'llama-bpe',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': tokenType,
      'tokenizer.ggml.merges': [],
      'tokenizer.ggml.bos_token_id': BOS,
      'tokenizer.ggml.eos_token_id': EOS,
      'tokenizer.ggml.add_bos_token': true,
      'tokenizer.chat_template': CHATML_JINJA,
    },
    metadataTypes: {
      'llama.rope.freq_base': 'FLOAT32',
      'llama.attention.layer_norm_rms_epsilon': 'FLOAT32',
      'tokenizer.ggml.merges': 'ARRAY[STRING]',
    },
    tensors,
  })
}
