// Turns recording on from the environment (imported by the package entry; costs nothing when VIZ
// is unset) and decides what happens at exit:
//   VIZ=1   record; when the process would exit, write the trace and serve the web UI on 127.0.0.1
//   VIZ=-1  record; at exit write the trace as JSON files and serve nothing
// VIZ_DIR picks the trace directory (default: a fresh one under the OS temp dir), VIZ_PORT the port.
import { getEnv, TsgradError } from '../helpers.js'
import { nodeBuiltins } from '../runtime/node.js'
import { setVizHooks } from '../trace.js'
import { setRewriteTracer } from '../uop/rewrite.js'
import { writeTrace } from './io.js'
import { Recorder } from './recorder.js'

let active: Recorder | null = null

/** Start recording into a fresh Recorder (replacing any active one). */
export function startRecording(): Recorder {
  const r = new Recorder()
  setVizHooks(r)
  setRewriteTracer(r)
  active = r
  return r
}

/** Stop recording; returns the recorder that was active. */
export function stopRecording(): Recorder | null {
  setVizHooks(null)
  setRewriteTracer(null)
  const r = active
  active = null
  return r
}

export function defaultTraceDir(): string {
  const dir = getEnv('VIZ_DIR')
  if (dir) return dir
  const nb = nodeBuiltins()
  if (!nb) throw new TsgradError('VIZ needs Node to write traces')
  return nb.fs.mkdtempSync(nb.path.join(nb.os.tmpdir(), 'tsgrad-viz-'))
}

export function vizPort(): number {
  const s = getEnv('VIZ_PORT', '8000')
  const port = Number(s)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new TsgradError(`VIZ_PORT=${s}: expected a port number 0..65535 (0: any free port)`)
  return port
}

function installFromEnv(): void {
  const mode = getEnv('VIZ')
  if (mode === '' || mode === '0') return
  if (mode !== '1' && mode !== '-1')
    throw new TsgradError(
      `VIZ=${mode}: expected 1 (record, serve the web UI at exit) or -1 (write JSON files)`,
    )
  const proc = (globalThis as { process?: NodeJS.Process }).process
  if (!proc?.on || !nodeBuiltins()) return // a browser: start recording programmatically instead
  const port = vizPort()
  const rec = startRecording()
  let dir: string | null = null
  const write = (): string => {
    if (dir === null) {
      stopRecording()
      dir = defaultTraceDir()
      writeTrace(dir, rec.snapshot(proc.argv))
    }
    return dir
  }
  if (mode === '1')
    proc.once('beforeExit', () => {
      if (dir !== null) return
      const d = write()
      import('./server.js')
        .then((s) => s.serveTrace({ dir: d, port, retries: getEnv('VIZ_PORT') ? 0 : 10 }))
        .then((srv) => console.log(`VIZ: serving ${d} at ${srv.url} (Ctrl-C to stop)`))
        .catch((e: Error) => {
          console.error(`VIZ: cannot serve the trace (${e.message}); it is in ${d}: npx tsgrad viz ${d}`)
          proc.exitCode = 1
        })
    })
  proc.once('exit', () => {
    if (dir !== null) return
    const d = write()
    if (mode === '-1') console.error(`VIZ: trace written to ${d}`)
    else console.error(`VIZ: exited before serving; trace written to ${d}: npx tsgrad viz ${d}`)
  })
}

installFromEnv()
