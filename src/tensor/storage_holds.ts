// Storage that a lazy reader keeps alive after the last tensor holding it was disposed. dispose()
// realizes the live lazy readers of what it frees, but a reader made in the current job cannot be
// told from one the user already dropped: the registry holds it strongly, and a WeakRef made in a
// job pins its target until the job ends (FinalizationRegistry callbacks run only after it). So
// such a reader holds the storage instead (counted as one of its buffer's handles) and reads it
// when it is realized; the hold goes when it is realized, disposed or collected. Realizing them
// all ran a kernel and allocated an output per reader the user had dropped.
import type { Buffer } from '../runtime/buffer.js'

/** What a hold needs of a tensor (kept apart from tensor.ts, which uses it). */
export interface StorageHolder {
  /** the buffers this lazy tensor holds for its graph (undefined: none) */
  heldStorage: Buffer[] | undefined
}

function release(bufs: readonly Buffer[]): void {
  for (const b of bufs) if (--b.handles <= 0) b.dispose()
}
/** a collected reader's holds (the array holds buffers only, never the reader) */
const collected = new FinalizationRegistry<Buffer[]>(release)

/** Keep `buf`'s storage while `t` (a lazy tensor whose graph reads it) may still be realized. */
export function holdStorage(t: StorageHolder, buf: Buffer): void {
  buf.handles++
  if (t.heldStorage) t.heldStorage.push(buf)
  else {
    t.heldStorage = [buf]
    collected.register(t, t.heldStorage, t)
  }
}

/** `t` no longer reads its held storage (realized or disposed): give it back. */
export function releaseStorage(t: StorageHolder): void {
  const bufs = t.heldStorage
  if (!bufs) return
  t.heldStorage = undefined
  collected.unregister(t)
  release(bufs)
}
