// A chat's turns on a fresh kernel cache: each turn a prompt of another length at the position the
// conversation reached (its prefill), then a few decoded tokens (the reply). Per turn: kernels
// compiled by the prefill and its time to first token (the prefill's logits): wall, the process's
// CPU and its finished children's (the compilers: gcc runs as child processes).
//   node --expose-gc --import tsx bench/llm_turns.ts [Q4_0|Q8_0|F16] [--turns 37,120,9,300] [--reply 4]
// The model is `npm run bench -- llm`'s (bench/llm.ts writes it, maxContext 2048); the kernel cache
// is a fresh temporary directory (TSGRAD_CACHE_DIR), so the first turn compiles everything it runs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchModel } from './llm.ts'

/** CPU ms of this process's finished (waited for) children: /proc/self/stat cutime + cstime */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  // fields 16 and 17 of the whole line (1-based), counted here from field 3 (state)
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const type = (['Q4_0', 'Q8_0', 'F16'] as const).find((t) => argv.includes(t)) ?? 'Q4_0'
  const opt = (name: string, dflt: string): string => {
    const at = argv.indexOf(name)
    return at >= 0 ? argv[at + 1]! : dflt
  }
  const turns = opt('--turns', '37,120,9,300').split(',').map(Number)
  const reply = Number(opt('--reply', '4'))
  const path = await benchModel(type)
  const cache = mkdtempSync(join(tmpdir(), 'tsgrad-turns-'))
  process.env.TSGRAD_CACHE_DIR = cache
  try {
    const { llm } = await import('../src/index.ts')
    const { stats } = await import('../src/engine/realize.ts')
    const m = await llm.load(path, { maxContext: 2048 })
    console.log(
      `${type}, turns ${turns.join(', ')} tokens, ${reply} decoded after each; kernel cache ${cache}`,
    )
    let pos = 0
    let seed = 1
    const argmax = (xs: Float32Array): number => xs.reduce((b, x, i) => (x > xs[b]! ? i : b), 0)
    for (const [k, n] of turns.entries()) {
      const tokens = Array.from({ length: n }, () => 300 + ((seed++ * 7919) % 100000))
      const k0 = stats.kernelsCompiled
      const c0 = process.cpuUsage()
      const g0 = childrenCpuMs()
      const t0 = performance.now()
      let logits = await m.runner.step(tokens, pos)
      const wall = performance.now() - t0
      const c = process.cpuUsage(c0)
      const children = childrenCpuMs() - g0
      const compiled = stats.kernelsCompiled - k0
      pos += n
      const d0 = stats.kernelsCompiled
      for (let i = 0; i < reply; i++) logits = await m.runner.step([argmax(logits)], pos++)
      console.log(
        `turn ${k + 1}: ${n} tokens at ${pos - n - reply}: ${compiled} kernels compiled, time to first token ${wall.toFixed(0)} ms wall, ${((c.user + c.system) / 1e3).toFixed(0)} ms CPU + ${children.toFixed(0)} ms compilers' CPU; reply: ${stats.kernelsCompiled - d0} compiled`,
      )
    }
  } finally {
    rmSync(cache, { recursive: true, force: true })
  }
}

main()
