// What a running jitted call needs to hear about from the rest of the front end (kept apart from
// jit.ts so tensor.ts and create.ts can report to it without an import cycle).
import type { Buffer } from '../runtime/buffer.js'

export const jitScope = {
  /** > 0 while a jitted function runs (reading tensor values is then an error) */
  depth: 0,
  /** `Tensor.serial` of the first tensor made during the outermost running call */
  startSerial: 0,
  /** tensors given an `assign` during the call: committed when the call ends */
  assigned: undefined as Set<object> | undefined,
  /** random-state uploads made during a capture, with the counter they were made at */
  rngUploads: undefined as { buf: Buffer; counter: number }[] | undefined,
}
