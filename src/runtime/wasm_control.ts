// The control block a WASM kernel launch shares with its worker threads (Int32Array indices), the
// same in Node (wasm_threads.ts) and in a browser (wasm_threads_web.ts).
export const GEN = 0
export const PENDING = 1
export const FAILED = 2
export const KERNEL = 3
export const NARGS = 4
export const NTHREADS = 5
export const ARGS = 6
export const MAX_ARGS = 250
/** Int32 words in the block */
export const CONTROL_WORDS = ARGS + MAX_ARGS
