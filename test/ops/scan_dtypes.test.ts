// cummax/cummin over narrow integer dtypes: the prefix window is filled with the identity of
// max/min in the tensor's own dtype (int32's bounds, cast to int8, wrapped to 0 and -1).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Device, dtypes, Tensor } from '../../src/index.ts'

test('cummax and cummin of all-negative int8, int16 and int64 rows, and of uint8', async () => {
  const row = [-5, -3, -7, -1]
  for (const dt of [dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64]) {
    if (!Device.supportsDType(Device.DEFAULT, dt)) continue // WEBGPU: no int64
    const [mx, imx] = new Tensor(row, { dtype: dt }).cummax(0)
    const [mn] = new Tensor(row, { dtype: dt }).cummin(0)
    assert.deepEqual((await mx.tolist()) as number[], [-5, -3, -3, -1], `cummax ${dt.name}`)
    assert.deepEqual((await imx.tolist()) as number[], [0, 1, 1, 3], `cummax indices ${dt.name}`)
    assert.deepEqual((await mn.tolist()) as number[], [-5, -5, -7, -7], `cummin ${dt.name}`)
  }
  const [u] = new Tensor([250, 3, 255, 1], { dtype: dtypes.uint8 }).cummin(0)
  assert.deepEqual((await u.tolist()) as number[], [250, 3, 3, 1])
})
