// Checkpoints under `<out>/checkpoints/`: one folder per saved step (`step-00000200/`) holding the
// model, optimizer state and other tensors as safetensors files plus JSON files (scheduler, sampler,
// RNG, loss history, tokenizer), and a `manifest.json` naming every file with its byte length.
//
// Atomicity: the folder is written under a temporary name, then renamed into place, and only then
// is `latest.json` switched (written to a temporary file and renamed over the old pointer). A
// process killed at any moment leaves `latest.json` naming a complete folder (or no pointer at
// all); the leftover temporary folder is removed by the next save. Loading checks the manifest
// (every file present with its length) before anything is read.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { nn, type Tensor } from '../../index.js'

export interface CheckpointContent {
  /** file stem -> tensors (written as `<stem>.safetensors`) */
  tensors: Record<string, Record<string, Tensor>>
  /** file stem -> JSON value (written as `<stem>.json`) */
  json: Record<string, unknown>
}

interface Manifest {
  format: 'tsgrad-train-llama-checkpoint'
  version: 1
  step: number
  files: Record<string, number>
}

const stepName = (step: number) => `step-${String(step).padStart(8, '0')}`
const TMP_PREFIX = '.tmp-'

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}

/** Save `content` as the checkpoint of `step` and point `latest.json` at it; keep the newest `keep`. */
export async function saveCheckpoint(
  root: string,
  step: number,
  content: CheckpointContent,
  keep = 2,
): Promise<string> {
  mkdirSync(root, { recursive: true })
  // a temporary folder left by a killed save is garbage
  for (const e of readdirSync(root))
    if (e.startsWith(TMP_PREFIX)) rmSync(join(root, e), { recursive: true, force: true })
  const name = stepName(step)
  const tmp = join(root, `${TMP_PREFIX}${name}-${process.pid}`)
  mkdirSync(tmp)
  const files: Record<string, number> = {}
  for (const [stem, dict] of Object.entries(content.tensors)) {
    const file = `${stem}.safetensors`
    await nn.safeSave(dict, join(tmp, file))
    files[file] = statSync(join(tmp, file)).size
  }
  for (const [stem, value] of Object.entries(content.json)) {
    const file = `${stem}.json`
    writeFileSync(join(tmp, file), JSON.stringify(value))
    files[file] = statSync(join(tmp, file)).size
  }
  const manifest: Manifest = { format: 'tsgrad-train-llama-checkpoint', version: 1, step, files }
  writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1))
  const dir = join(root, name)
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  writeAtomic(join(root, 'latest.json'), JSON.stringify({ step, dir: name }))
  const saved = readdirSync(root)
    .filter((e) => /^step-\d{8}$/.test(e))
    .sort()
  for (const old of saved.slice(0, Math.max(0, saved.length - keep)))
    if (old !== name) rmSync(join(root, old), { recursive: true, force: true })
  return dir
}

export interface LoadedCheckpoint {
  step: number
  dir: string
  tensors: Record<string, Record<string, Tensor>>
  json: Record<string, unknown>
}

/** The checkpoint `latest.json` points at, checked against its manifest; undefined when none. */
export async function loadLatestCheckpoint(
  root: string,
  device?: string,
): Promise<LoadedCheckpoint | undefined> {
  const pointer = join(root, 'latest.json')
  if (!existsSync(pointer)) return undefined
  const fail = (why: string): never => {
    throw new Error(`checkpoint in ${root}: ${why}`)
  }
  let latest: { step?: unknown; dir?: unknown }
  try {
    latest = JSON.parse(readFileSync(pointer, 'utf8'))
  } catch (e) {
    return fail(`latest.json is not valid JSON (${(e as Error).message})`)
  }
  if (typeof latest.dir !== 'string' || !/^step-\d{8}$/.test(latest.dir))
    return fail('latest.json names no step folder')
  const dir = join(root, latest.dir)
  let manifest: Manifest
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
  } catch (e) {
    return fail(`${latest.dir}/manifest.json is missing or corrupt (${(e as Error).message})`)
  }
  if (manifest.format !== 'tsgrad-train-llama-checkpoint' || manifest.version !== 1)
    fail(`${latest.dir} is not a train-llama checkpoint (format ${String(manifest.format)})`)
  for (const [file, size] of Object.entries(manifest.files)) {
    const p = join(dir, file)
    if (!existsSync(p) || statSync(p).size !== size)
      fail(`${latest.dir}/${file} is missing or has the wrong length (expected ${size} bytes)`)
  }
  const out: LoadedCheckpoint = { step: manifest.step, dir, tensors: {}, json: {} }
  for (const file of Object.keys(manifest.files)) {
    const p = join(dir, file)
    if (file.endsWith('.safetensors'))
      out.tensors[file.slice(0, -12)] = await nn.safeLoad(p, device !== undefined ? { device } : {})
    else out.json[file.slice(0, -5)] = JSON.parse(readFileSync(p, 'utf8'))
  }
  return out
}
