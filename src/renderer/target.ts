// What a device's renderer tells the passes above it about the target: the types renderers,
// codegen and the scheduler share, in one module below all three (it imports only the IR).
import type { Op, UOp } from '../uop/ops.js'

/** What a GPU target tells the optimizer about itself (OptTarget.gpu, codegen/gpu_opts.ts). */
export interface GPULimits {
  /** invocations one workgroup may have */
  readonly maxWorkgroup: number
  /** bytes of workgroup memory */
  readonly localMemory: number
}

/** What the optimizer heuristics may use on this target (codegen/heuristics.ts). */
export interface OptTarget {
  /** can split the outermost loop across cores */
  readonly threads: boolean
  /** float lanes per vector register (1: no SIMD) */
  readonly vectorWidth: number
  /** accumulators worth keeping in registers */
  readonly registers: number
  /** the renderer vectorizes a plain reduce loop itself (C: OpenMP simd reductions) */
  readonly simdReduce?: boolean
  /**
   * the renderer vectorizes only upcast copies, not loops (WASM): elementwise kernels get their
   * contiguous output axis upcast by the vector width
   */
  readonly upcastElementwise?: boolean
  /**
   * false: a register tile's short reduce axes (a convolution's 3x3 window) stay loops instead of
   * straight-line CHAIN steps (WASM: V8 loads every step's operands first and spills the tile:
   * a conv2d took twice as long)
   */
  readonly chainReduces?: boolean
  /**
   * accumulators from which a kernel's reduce loops keep the order of the sums whatever its tile
   * (C: a loop with fewer becomes an OpenMP simd reduction, which reorders them). First-tier opts
   * (codegen/first_tier.ts) keep at least this many; absent: no first tiers on this target
   */
  readonly orderedAccs?: number
  /**
   * a matrix-vector product over 16-bit float weights whose vector is longer than `vectorBytesAbove`
   * computes `rows` output rows together (each load of the vector's elements shared by them, each
   * row its own accumulator); absent: one row at a time
   */
  readonly matvecRows?: { readonly rows: number; readonly vectorBytesAbove: number }
  /** loop iterations before a kernel is worth threading (default THREAD_MIN_WORK) */
  readonly threadMinWork?: number
  /**
   * a GPU: every output element is its own invocation (renderer/wgsl.ts), so no row is written
   * and read back by one thread (no reuse_row_values), and the GPU opts apply (gpu_opts.ts)
   */
  readonly gpu?: GPULimits
}

/**
 * Which copies pay for themselves on this target (pass `layouts`, schedule/layouts.ts): a matmul's
 * B operand packed contiguous along n, or in panels of the register tile's width; a convolution's
 * padded input or weight copied for its direct or channels-last form (schedule/conv_layouts.ts).
 */
export interface LayoutTarget {
  /** columns of B per packed panel (the register tile's width); 0: contiguous copies only */
  readonly panel: number
  /** rows of A from which packing B pays for its copy (below: matrix-vector products) */
  readonly packMinRows: number
  /** ...and multiply-adds, so small products keep one kernel */
  readonly packMinWork: number
  /**
   * a convolution takes the direct NCHW form when its output width is a multiple of this and more
   * than one of it (the register tile's columns along the output rows); 0: never
   */
  readonly convDirectWidth: number
  /** ...and its input has at least this many channels (the loop around the window's steps) */
  readonly convDirectMinChannels: number
  /** (n, oy, ox) positions each batch group of a conv weight gradient reduces over, at least */
  readonly convGradGroupPositions: number
  /**
   * A read across its rows (a weight gradient's `g^T`) is copied contiguous along k too: the
   * register tile's row splats then share cache lines along k instead of each step of k reading
   * new ones (WASM: a 512^3 `g^T @ h` took 9.1 ms of CPU against 7.1 for `g @ h`)
   */
  readonly packTransposedA?: boolean
}

/** A kernel as a linear instruction list (codegen/linearize.ts makes it, a renderer prints it). */
export interface LinearProgram {
  /** instructions in order: DEFINE_GLOBAL, RANGE ... ENDRANGE, DEFINE_ACC, ACC_UPDATE, ALU, LOAD, STORE, REDUCE */
  uops: UOp[]
  /** for each REDUCE node and each ACC read (ctx.accumulate): its accumulator */
  accOf: Map<UOp, UOp>
}

/** What every renderer provides: native ALU ops (others are decomposed first), its target, and source text. */
export interface Renderer {
  readonly name: string
  readonly supports: ReadonlySet<Op>
  readonly target: OptTarget
  /** the layouts the scheduler gives this target's matmul operands */
  readonly layout: LayoutTarget
  /** limits a kernel must keep (none: any kernel the schedule makes) */
  readonly limits?: KernelLimits
  render(name: string, prog: LinearProgram): string
}

/**
 * Panels of 32 columns: the C target's register tile (2 AVX-512 vectors) and the width whose k x 32
 * strips stay in L2; direct convolutions over whole 8-float vectors of output columns (at width 8,
 * MNIST's third conv, the direct kernel was no faster, and with 1 input channel the 16x8 tile times
 * a 5x5 window's 25 steps ran 8x slower than channels-last); weight-gradient batch groups of 8K
 * positions (each group's slice of the gradient stays in cache). The other renderers use it as it
 * is (not tuned for them yet).
 */
export const PANELS_32: LayoutTarget = {
  panel: 32,
  packMinRows: 64,
  packMinWork: 1 << 18,
  convDirectWidth: 8,
  convDirectMinChannels: 8,
  convGradGroupPositions: 8192,
}

/** What a device's register tiles take after their reduce (KernelLimits.tileEpilogue). */
export interface TileEpilogueLimit {
  /** ALU ops an epilogue may hold and still vectorize with the tile */
  readonly ops: ReadonlySet<Op>
  /** multiply-adds from which a product counts as a register tile worth keeping vectorized */
  readonly minWork: number
}

/** What the scheduler must respect on this target (schedule/schedule.ts). */
export interface KernelLimits {
  /**
   * buffers one kernel may bind (WebGPU: the adapter's maxStorageBuffersPerShaderStage, less the
   * binding of the variables); a fused kernel over more is split
   */
  readonly maxBuffers?: number
  /** the epilogue a matmul-like product's register tile keeps vectorized (schedule/tile_epilogue.ts) */
  readonly tileEpilogue?: TileEpilogueLimit
}
