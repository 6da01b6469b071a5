// Trace directories on disk: write a recorded trace (synchronously: it also runs at process exit)
// and read one back, validating every file.
import { nodeBuiltins } from '../runtime/node.js'
import type { Trace } from './schema.js'
import { TraceFormatError, validateIndex, validateKernel, validatePass, validateProfile } from './validate.js'

function node() {
  const nb = nodeBuiltins()
  if (!nb) throw new Error('VIZ trace files need Node (no file system here)')
  return nb
}

/** Write `trace` into `dir` (created if missing; files of an older trace there are replaced). */
export function writeTrace(dir: string, trace: Trace): void {
  const { fs, path } = node()
  fs.mkdirSync(path.join(dir, 'passes'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'kernels'), { recursive: true })
  const put = (rel: string, v: unknown) => fs.writeFileSync(path.join(dir, rel), JSON.stringify(v))
  for (const p of trace.passes) put(`passes/${p.id}.json`, p)
  for (const k of trace.kernels) put(`kernels/${k.id}.json`, k)
  put('profile.json', trace.profile)
  // the index last: a directory with an index is complete
  put('index.json', trace.index)
}

/** Read and validate a whole trace directory. */
export function readTrace(dir: string): Trace {
  const { fs, path } = node()
  const load = (rel: string): unknown => {
    const file = path.join(dir, rel)
    let text: string
    try {
      text = fs.readFileSync(file, 'utf8')
    } catch (e) {
      throw new TraceFormatError(`${file}: cannot read (${(e as Error).message})`)
    }
    try {
      return JSON.parse(text)
    } catch (e) {
      throw new TraceFormatError(`${file}: not JSON (${(e as Error).message})`)
    }
  }
  if (!fs.existsSync(path.join(dir, 'index.json')))
    throw new TraceFormatError(`${dir}: no index.json here; is this a VIZ trace directory?`)
  const index = validateIndex(load('index.json'))
  const profile = validateProfile(load('profile.json'), 'profile.json', index.kernels.length)
  const passes = index.passes.map((p) => validatePass(load(p.file), p.file))
  const kernels = index.kernels.map((k) => validateKernel(load(k.file), k.file, index.passes.length))
  return { index, profile, passes, kernels }
}
