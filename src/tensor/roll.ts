// roll: shift elements along axes with wrap-around (torch.roll), as two shrinks and a cat.
import { fmtShape, normAxis, TsgradError } from '../helpers.js'
import { Tensor } from './tensor.js'

declare module './tensor.js' {
  interface Tensor {
    /** shift by `shifts` along `axis` (each of several axes); no axis: the flattened tensor */
    roll(shifts: number | readonly number[], axis?: number | readonly number[]): Tensor
  }
}

Tensor.prototype.roll = function (shifts, axis) {
  if (axis === undefined) {
    if (typeof shifts !== 'number')
      throw new TsgradError(`roll: give one shift without an axis, got ${JSON.stringify(shifts)}`)
    return this.flatten().roll(shifts, 0).reshape(this.shape)
  }
  const ss = typeof shifts === 'number' ? [shifts] : [...shifts]
  const axes = typeof axis === 'number' ? [axis] : [...axis]
  if (ss.length !== axes.length || !ss.every(Number.isInteger))
    throw new TsgradError(
      `roll: need one integer shift per axis, got shifts ${JSON.stringify(shifts)} and axes ${JSON.stringify(axis)} (shape ${fmtShape(this.shape)})`,
    )
  let x: Tensor = this
  ss.forEach((s, i) => {
    const ax = normAxis('roll', axes[i]!, x.ndim, x.shape)
    const n = x.shape[ax]!
    const k = ((s % n) + n) % n
    if (n === 0 || k === 0) return
    const [head, tail] = x.split([n - k, k], ax) as [Tensor, Tensor]
    x = Tensor.cat([tail, head], ax)
  })
  return x
}
