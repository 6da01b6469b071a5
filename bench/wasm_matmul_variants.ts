// Hand-built WebAssembly matmul kernels (1024^3, single thread), to find what the WASM renderer's
// matmul is missing: register tile rows (4 or 6 x 8 columns), the reduce loop unrolled or not,
// A's element as a scalar load + f32x4.splat or one v128.load32_splat, relaxed madd or mul + add,
// pointers advanced by the loop or addresses recomputed from the index. B is in 32-column panels,
// as the front end packs it. Process CPU time per call, median of several, variants interleaved.
//   node --experimental-wasm-relaxed-simd --import tsx bench/wasm_matmul_variants.ts
// env: TILES (4x8,6x8), UNROLLS (1,4), ORDERS (8: column blocks of that width outer, rows inside;
// ij: rows outer), PANELS (32; 8 too: B's panels as wide as the tile)
import { Code, EMPTY, encodeModule, I32, op, simd, V128 } from '../src/renderer/wasm_encoder.ts'

const N = 1024
interface Variant {
  rows: number
  /** columns of the register tile: 8 or 16 (within a 32-column panel of B) */
  cols: number
  unroll: number
  loadSplat: boolean
  madd: boolean
  /** 'ij': rows outer, columns inner (B streamed per row block); 'pij': B's panels outer, then rows, then the panel's tiles (the panel stays in L2) */
  order: 'ij' | 'pij'
  /** columns of B per packed panel (a power of two, at least `cols`) */
  panel: number
  /** columns of one block in 'pij' order (the register tile's width: tsgrad's order before blocking) */
  block: number
}

function build(v: Variant): Uint8Array {
  const c = new Code()
  // params: A, Bp, C (byte offsets); locals
  const [A, B, C] = [0, 1, 2]
  const locals: number[] = []
  const local = (t: number) => 3 + locals.push(t) - 1
  const i0 = local(I32)
  const j0 = local(I32)
  const k = local(I32)
  const ap = local(I32)
  const bp = local(I32)
  const nv = v.cols / 4
  const bs = Array.from({ length: nv }, () => local(V128))
  const a = local(V128)
  const acc = Array.from({ length: v.rows * nv }, () => local(V128))
  const loop = (ctr: number, end: number, step: number, body: () => void) => {
    c.i32(0).set(ctr).o(op.loop, EMPTY)
    body()
    c.get(ctr).i32(step).o(op.i32_add).tee(ctr).i32(end).o(op.i32_lt_s, op.br_if).u32(0).o(op.end)
  }
  const p0 = local(I32)
  const jEnd = local(I32)
  const rowsEnd = Math.floor(N / v.rows) * v.rows
  const outer = (body: () => void) => {
    if (v.order === 'ij')
      loop(i0, rowsEnd, v.rows, () => {
        c.i32(0).set(p0).i32(N).set(jEnd)
        body()
      })
    else
      loop(p0, N, v.block, () => {
        c.get(p0).i32(v.block).o(op.i32_add).set(jEnd)
        loop(i0, rowsEnd, v.rows, body)
      })
  }
  const loopJ = (body: () => void) => {
    c.get(p0).set(j0).o(op.loop, EMPTY)
    body()
    c.get(j0).i32(v.cols).o(op.i32_add).tee(j0).get(jEnd).o(op.i32_lt_s, op.br_if).u32(0).o(op.end)
  }
  outer(() => {
    loopJ(() => {
      for (const l of acc) c.v(simd.v128_const).bytes(new Uint8Array(16)).set(l)
      // ap = A + i0*N*4; bp = B + ((j0/P)*N*P + (j0%P))*4 (B: the panel's copy, P its width)
      c.get(A)
        .get(i0)
        .i32(N * 4)
        .o(op.i32_mul, op.i32_add)
        .set(ap)
      c.get(B)
        .get(j0)
        .i32(Math.log2(v.panel))
        .o(op.i32_shr_u)
        .i32(N * v.panel * 4)
        .o(op.i32_mul, op.i32_add)
      c.get(j0)
        .i32(v.panel - 1)
        .o(op.i32_and)
        .i32(2)
        .o(op.i32_shl, op.i32_add)
        .set(bp)
      loop(k, N, v.unroll, () => {
        for (let u = 0; u < v.unroll; u++) {
          bs.forEach((b, h) => {
            c.get(bp)
              .vmem(simd.v128_load, 2, u * v.panel * 4 + h * 16)
              .set(b)
          })
          for (let r = 0; r < v.rows; r++) {
            c.get(ap)
            if (v.loadSplat) c.vmem(simd.v128_load32_splat, 2, (r * N + u) * 4)
            else c.mem(op.f32_load, 2, (r * N + u) * 4).v(simd.f32x4_splat)
            c.set(a)
            for (const [h, b] of bs.entries()) {
              const l = acc[r * nv + h]!
              if (v.madd) c.get(a).get(b).get(l).v(simd.f32x4_relaxed_madd)
              else c.get(l).get(a).get(b).v(simd.f32x4_mul).v(simd.f32x4_add)
              c.set(l)
            }
          }
        }
        c.get(bp)
          .i32(v.unroll * v.panel * 4)
          .o(op.i32_add)
          .set(bp)
        c.get(ap)
          .i32(v.unroll * 4)
          .o(op.i32_add)
          .set(ap)
      })
      for (let r = 0; r < v.rows; r++)
        for (let h = 0; h < nv; h++) {
          c.get(C)
            .get(i0)
            .i32(r)
            .o(op.i32_add)
            .i32(N)
            .o(op.i32_mul)
            .get(j0)
            .o(op.i32_add)
            .i32(2)
            .o(op.i32_shl, op.i32_add)
          c.get(acc[r * nv + h]!).vmem(simd.v128_store, 2, h * 16)
        }
    })
  })
  return encodeModule(
    { module: 'env', name: 'mem', initial: 256 },
    [],
    [{ type: { params: [I32, I32, I32], results: [] }, locals: locals as never, body: c, export: 'k' }],
  )
}

const memory = new WebAssembly.Memory({ initial: 256 })
const f32 = new Float32Array(memory.buffer)
const [A, B, C] = [0, N * N * 4, 2 * N * N * 4]
const a = Float32Array.from({ length: N * N }, () => Math.random() - 0.5)
const b = Float32Array.from({ length: N * N }, () => Math.random() - 0.5)
f32.set(a, A / 4)
// B in panels of 32 columns: Bp[p][k][32] at B, of 8 (the tile's width: a k x 8 strip is 32 KB, in L1) at B8
const B8 = 3 * N * N * 4
const panelB = (at: number, P: number) => {
  for (let p = 0; p < N / P; p++)
    for (let kk = 0; kk < N; kk++)
      for (let j = 0; j < P; j++) f32[at / 4 + (p * N + kk) * P + j] = b[kk * N + p * P + j]!
}
panelB(B, 32)
panelB(B8, 8)
const PANELS = (process.env.PANELS ?? '32').split(',').map(Number)

const variants: Variant[] = []
const TILES = (process.env.TILES ?? '4x8,6x8')
  .split(',')
  .map((t) => t.split('x').map(Number) as [number, number])
const UNROLLS = (process.env.UNROLLS ?? '1,4').split(',').map(Number)
for (const [rows, cols] of TILES)
  for (const unroll of UNROLLS)
    for (const loadSplat of [false, true])
      for (const madd of [false, true])
        for (const o of (process.env.ORDERS ?? '8').split(','))
          for (const panel of PANELS.filter((p) => p >= cols))
            variants.push({
              rows,
              cols,
              unroll,
              loadSplat,
              madd,
              order: o === 'ij' ? 'ij' : 'pij',
              block: Number(o) || 0,
              panel,
            })
const kernels = variants.map((v) => {
  const m = new WebAssembly.Module(build(v) as Uint8Array<ArrayBuffer>)
  return new WebAssembly.Instance(m, { env: { mem: memory } }).exports.k as (
    a: number,
    b: number,
    c: number,
  ) => void
})
// 6 rows do not divide 1024: those kernels cover rows 0..1019 (timing scaled by 1024/1020)
const check = (i: number) => {
  const v = variants[i]!
  const rowsDone = Math.floor(N / v.rows) * v.rows
  for (const [r, col] of [
    [0, 0],
    [rowsDone - 1, N - 1],
    [3, 17],
  ] as const) {
    let s = 0
    for (let kk = 0; kk < N; kk++) s += a[r * N + kk]! * b[kk * N + col]!
    const got = f32[C / 4 + r * N + col]!
    if (Math.abs(got - s) > 1e-3) throw new Error(`variant ${i} wrong at ${r},${col}: ${got} vs ${s}`)
  }
}
const times = variants.map(() => [] as number[])
for (let rep = 0; rep < 7; rep++)
  kernels.forEach((k, i) => {
    const c0 = process.cpuUsage()
    k(A, variants[i]!.panel === 8 ? B8 : B, C)
    const u = process.cpuUsage(c0)
    times[i]!.push((u.user + u.system) / 1e3)
    if (rep === 0) check(i)
  })
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!
variants.forEach((v, i) => {
  const ms = median(times[i]!.slice(2)) * (N / (Math.floor(N / v.rows) * v.rows))
  console.log(
    `${v.rows}x${v.cols} unroll ${v.unroll} ${v.loadSplat ? 'load32_splat' : 'load+splat '} ${v.madd ? 'madd   ' : 'mul+add'} ${v.order}${v.block || ''} panel ${v.panel}: ${ms.toFixed(1)} ms cpu, ${((2 * N ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`,
  )
})
