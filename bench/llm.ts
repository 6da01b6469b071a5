// LLM decode/prefill against llama.cpp on the same GGUF file (`npm run bench -- llm`).
//
// A LLaMA-3.2-1B-shaped model with random weights (dim 2048, 16 layers, 32 heads, 8 kv heads,
// hidden 8192, vocab 128256, tied embeddings) is written with `nn.ggufSave` as Q8_0, Q4_0 and
// F16 and cached under ~/.cache/tsgrad/bench (reused while its size matches). For each file, in
// this order and never at the same time: a copy kernel of as many bytes as the file's (the
// bandwidth bound: copy GB/s (read + written) / file bytes = tokens/s if a token read every byte
// once at copy speed), then tsgrad (`load` of src/llm/load.ts) and llama.cpp (node-llama-cpp, set
// up by bench/peers/setup-llama-cpp.sh) each in a child process of its own (bench/llm_child.mjs,
// plain node: tsgrad from the built dist/, which is rebuilt first if stale) with the same thread
// count, which report
//   decode tokens/s at context 128 and 1024 (greedy: argmax of the logits, median per token),
//   prefill tokens/s of a 512-token prompt, time to first token of that prompt (prefill + the
//   first greedy token, second run: kernels compiled), and peak memory (the child's max RSS;
//   llama.cpp maps the file, its pages count once touched).
//   node --import tsx bench/llm.ts [Q8_0 Q4_0 F16] [--threads N] [--peer-only|--tsgrad-only] [--kv f32|f16]
//     [--trace-memory] (each side's RSS after every stage: bench/llm_child.mjs)
// A side that is missing (llama.cpp not installed, load.ts not on this branch) is skipped with a
// message.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { availableParallelism, homedir } from 'node:os'
import { join } from 'node:path'

export const LLAMA_1B_SHAPE = { dim: 2048, layers: 16, heads: 32, kvHeads: 8, hidden: 8192, vocab: 128256 }
type Shape = typeof LLAMA_1B_SHAPE
type WeightType = 'Q8_0' | 'Q4_0' | 'F16'
const FILE_TYPE: Record<WeightType, number> = { F16: 1, Q4_0: 2, Q8_0: 7 }

const cacheDir = () => process.env.TSGRAD_CACHE_DIR ?? join(homedir(), '.cache', 'tsgrad')
export const PEER_PREFIX = (): string =>
  process.env.LLAMA_CPP_PREFIX ?? join(cacheDir(), 'peers', 'llama-cpp')

/** Bytes of a GGUF tensor of `n` elements (row length `k`) in `type`. */
function tensorBytes(n: number, type: WeightType | 'F32'): number {
  if (type === 'F32') return 4 * n
  if (type === 'F16') return 2 * n
  return (n / 32) * (type === 'Q8_0' ? 34 : 18)
}

/**
 * Writes the model (random normal weights * 0.02, norms 1) with `nn.ggufSave`, metadata as llama.cpp
 * reads a LLaMA file and a SentencePiece-style vocabulary of `vocab` placeholder tokens (byte
 * tokens included) so both tokenizers load. Each weight is a lazy float16 graph cast to float32
 * by the writer, so only one tensor's floats are alive at a time.
 */
export async function writeLlamaModel(
  path: string,
  type: WeightType,
  s: Shape = LLAMA_1B_SHAPE,
): Promise<void> {
  const { nn, Tensor } = await import('../src/index.ts')
  Tensor.manualSeed(1)
  const w = (...shape: number[]) => Tensor.randn(shape).mul(0.02).cast('float16')
  const ones = (n: number) => Tensor.ones([n])
  const headDim = s.dim / s.heads
  const tensors = new Map<string, InstanceType<typeof Tensor>>()
  const types: Record<string, 'F32' | WeightType> = {}
  const put = (name: string, t: InstanceType<typeof Tensor>, ty: 'F32' | WeightType) => {
    tensors.set(name, t)
    types[name] = ty
  }
  put('token_embd.weight', w(s.vocab, s.dim), type)
  put('output_norm.weight', ones(s.dim), 'F32')
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}.`
    put(`${b}attn_norm.weight`, ones(s.dim), 'F32')
    put(`${b}attn_q.weight`, w(s.dim, s.dim), type)
    put(`${b}attn_k.weight`, w(s.kvHeads * headDim, s.dim), type)
    put(`${b}attn_v.weight`, w(s.kvHeads * headDim, s.dim), type)
    put(`${b}attn_output.weight`, w(s.dim, s.dim), type)
    put(`${b}ffn_norm.weight`, ones(s.dim), 'F32')
    put(`${b}ffn_gate.weight`, w(s.hidden, s.dim), type)
    put(`${b}ffn_up.weight`, w(s.hidden, s.dim), type)
    put(`${b}ffn_down.weight`, w(s.dim, s.hidden), type)
  }
  const tokens: string[] = ['<unk>', '<s>', '</s>']
  for (let i = 0; i < 256; i++) tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`)
  while (tokens.length < s.vocab) tokens.push(`▁t${tokens.length}`)
  const tokenType = Int32Array.from(tokens, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1))
  const scores = Float32Array.from(tokens, (_, i) => (i < 259 ? 0 : -i))
  const metadata = {
    'general.architecture': 'llama',
    'general.name': 'tsgrad bench llama-3.2-1b-shaped random',
    'general.file_type': FILE_TYPE[type],
    'llama.context_length': 131072,
    'llama.embedding_length': s.dim,
    'llama.block_count': s.layers,
    'llama.feed_forward_length': s.hidden,
    'llama.attention.head_count': s.heads,
    'llama.attention.head_count_kv': s.kvHeads,
    'llama.rope.freq_base': 500000,
    'llama.rope.dimension_count': headDim,
    'llama.attention.layer_norm_rms_epsilon': 1e-5,
    'llama.vocab_size': s.vocab,
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.scores': scores,
    'tokenizer.ggml.token_type': tokenType,
    'tokenizer.ggml.bos_token_id': 1,
    'tokenizer.ggml.eos_token_id': 2,
    'tokenizer.ggml.add_bos_token': true,
  }
  const metadataTypes: Record<string, string> = {
    'general.file_type': 'UINT32',
    'llama.context_length': 'UINT32',
    'llama.embedding_length': 'UINT32',
    'llama.block_count': 'UINT32',
    'llama.feed_forward_length': 'UINT32',
    'llama.attention.head_count': 'UINT32',
    'llama.attention.head_count_kv': 'UINT32',
    'llama.rope.freq_base': 'FLOAT32',
    'llama.rope.dimension_count': 'UINT32',
    'llama.attention.layer_norm_rms_epsilon': 'FLOAT32',
    'llama.vocab_size': 'UINT32',
    'tokenizer.ggml.tokens': 'ARRAY[STRING]',
    'tokenizer.ggml.scores': 'ARRAY[FLOAT32]',
    'tokenizer.ggml.token_type': 'ARRAY[INT32]',
    'tokenizer.ggml.bos_token_id': 'UINT32',
    'tokenizer.ggml.eos_token_id': 'UINT32',
  }
  await nn.ggufSave(path, { metadata, metadataTypes, tensors }, types)
}

/** The expected size of the tensor data (the header adds a few MB): a stale or partial file differs. */
function dataBytes(type: WeightType, s: Shape = LLAMA_1B_SHAPE): number {
  const kv = s.kvHeads * (s.dim / s.heads)
  const layer = 2 * s.dim * s.dim + 2 * kv * s.dim + 3 * s.hidden * s.dim
  return tensorBytes(s.vocab * s.dim + s.layers * layer, type) + 4 * s.dim * (1 + 2 * s.layers)
}

/** The cached model file for `type`, written first if missing. */
export async function benchModel(type: WeightType): Promise<string> {
  const dir = join(cacheDir(), 'bench')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, `llama-3.2-1b-shaped-random-${type}.gguf`)
  const want = dataBytes(type)
  const size = existsSync(path) ? statSync(path).size : 0
  if (size < want || size > want + 64e6) {
    const t0 = performance.now()
    console.log(`writing ${path} (${(want / 1e9).toFixed(2)} GB)...`)
    await writeLlamaModel(path, type)
    console.log(`  written in ${((performance.now() - t0) / 1e3).toFixed(0)} s`)
  }
  return path
}

// ---- measurements in a child process (bench/llm_child.mjs) ----

/** What a side's child reports. */
export interface SideResult {
  side: 'tsgrad' | 'llama.cpp'
  loadMs: number
  prefillTokS: number
  ttftMs: number
  decode128TokS: number
  decode1024TokS: number
  peakRssMB: number
}

// ---- the parent: files, copy bandwidth, children, table ----

/** Copy bandwidth (read + written GB/s) of a float32 `neg` kernel over `bytes`: median of 7 after a warm-up. */
async function copyBandwidth(bytes: number): Promise<number> {
  const { Tensor } = await import('../src/index.ts')
  const src = Tensor.randn([Math.floor(bytes / 4)]).realize()
  const ts: number[] = []
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now()
    const c = src.neg().realize()
    if (i > 0) ts.push(performance.now() - t0)
    c.dispose()
  }
  src.dispose()
  return (2 * bytes) / median(ts) / 1e6
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** Each side in plain `node` (no TypeScript loader in the process whose peak RSS is measured). */
function runChild(
  which: string,
  path: string,
  threads: number,
  kv: string | undefined,
  traceMemory: boolean,
): SideResult | string {
  const child = join(import.meta.dirname, 'llm_child.mjs')
  const r = spawnSync(
    process.execPath,
    [
      child,
      which,
      path,
      '--threads',
      String(threads),
      ...(kv ? ['--kv', kv] : []),
      ...(traceMemory ? ['--trace-memory'] : []),
    ],
    {
      encoding: 'utf8',
      // progress (stderr) shows as it happens; the result line comes on stdout
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        OMP_NUM_THREADS: String(threads),
        NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true',
        LLAMA_CPP_PREFIX: PEER_PREFIX(),
      },
      timeout: 30 * 60e3,
      maxBuffer: 64e6,
    },
  )
  const line = r.stdout?.split('\n').find((l) => l.startsWith('RESULT '))
  if (line) return JSON.parse(line.slice(7)) as SideResult
  const why = r.error?.message ?? `exit ${r.status ?? r.signal} (its output is above)`
  return `${which} failed: ${why}`
}

export async function llmBench(argv: string[] = []): Promise<string[][]> {
  const types = (['Q8_0', 'Q4_0', 'F16'] as const).filter((t) => argv.includes(t))
  const threadsAt = argv.indexOf('--threads')
  const threads = threadsAt >= 0 ? Number(argv[threadsAt + 1]) : availableParallelism()
  const sides: string[] = []
  const kvAt = argv.indexOf('--kv')
  const kv = kvAt >= 0 ? argv[kvAt + 1] : undefined
  if (!argv.includes('--peer-only')) {
    sides.push('tsgrad')
    // the tsgrad child runs the built package: rebuilt first when src/ is newer (as `npm test` does)
    execFileSync(process.execPath, [join(import.meta.dirname, '..', 'scripts', 'build-if-stale.mjs')], {
      stdio: 'inherit',
      cwd: join(import.meta.dirname, '..'),
    })
  }
  const peer = join(PEER_PREFIX(), 'node_modules', 'node-llama-cpp', 'dist', 'index.js')
  if (argv.includes('--tsgrad-only')) {
  } else if (existsSync(peer)) sides.push('llama.cpp')
  else console.log(`llama.cpp peer skipped: not installed (run sh bench/peers/setup-llama-cpp.sh)`)
  const rows: string[][] = []
  for (const type of types.length ? types : (['Q8_0', 'Q4_0', 'F16'] as const)) {
    const path = await benchModel(type)
    const fileBytes = statSync(path).size
    // 256 MB: 8x the L3 of the machines we run on, and below the buffer pool's 1 GiB, so the copy
    // does not time first-touch page faults (a 1 GiB copy right after writing the 2.5 GB F16 file
    // measured 0.7 GB/s)
    const copyGbs = await copyBandwidth(Math.min(fileBytes, 1 << 28))
    const bound = (copyGbs * 1e9) / fileBytes
    console.log(
      `${type}: ${(fileBytes / 1e9).toFixed(2)} GB, copy ${copyGbs.toFixed(1)} GB/s (r+w) -> bound ${bound.toFixed(1)} tokens/s; ${threads} threads`,
    )
    const got: Partial<Record<string, SideResult>> = {}
    for (const which of sides) {
      console.log(`  ${which}:`)
      const r = runChild(which, path, threads, kv, argv.includes('--trace-memory'))
      if (typeof r === 'string') {
        console.log(`  ${r}`)
        continue
      }
      got[which] = r
      const row = [
        `llm ${type} ${which}`,
        `decode ${r.decode128TokS.toFixed(2)} tok/s @128 (${((r.decode128TokS / bound) * 100).toFixed(0)}% of bound), ${r.decode1024TokS.toFixed(2)} @1024`,
        `prefill ${r.prefillTokS.toFixed(1)} tok/s (512)`,
        `ttft ${r.ttftMs.toFixed(0)} ms`,
        `peak ${r.peakRssMB.toFixed(0)} MB (file ${(fileBytes / 1e6).toFixed(0)} MB)`,
        `load ${(r.loadMs / 1e3).toFixed(1)} s`,
      ]
      console.log(`  ${row.join(' | ')}`)
      rows.push(row)
    }
    const a = got.tsgrad
    const b = got['llama.cpp']
    if (a && b)
      console.log(
        `  tsgrad / llama.cpp: decode @128 ${(a.decode128TokS / b.decode128TokS).toFixed(2)}x, @1024 ${(a.decode1024TokS / b.decode1024TokS).toFixed(2)}x, prefill ${(a.prefillTokS / b.prefillTokS).toFixed(2)}x`,
      )
  }
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) await llmBench(process.argv.slice(2))
