// ready() (the browser entry's device choice) picks the first device of its order that can run,
// makes it the default, and says why each was skipped when none can. Runs in Node: JS is always
// there, and a device that is not registered is skipped with its reason.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BROWSER_PREFERENCE, Device, ready } from '../../src/browser.ts'

test('BROWSER_PREFERENCE is fastest first', () => {
  assert.deepEqual([...BROWSER_PREFERENCE], ['WEBGPU', 'WASM', 'JS'])
})

test('ready() skips devices that cannot run and makes the first that can the default', {
  skip: !!process.env.DEVICE,
}, async () => {
  assert.equal(await ready({ prefer: ['NOSUCH', 'js'] }), 'JS')
  assert.equal(Device.DEFAULT, 'JS')
  assert.equal(await ready({ prefer: ['WASM', 'JS'] }), 'WASM')
  assert.equal(Device.DEFAULT, 'WASM')
})

test('ready() names every skipped device and why when none can run', {
  skip: !!process.env.DEVICE,
}, async () => {
  await assert.rejects(ready({ prefer: ['NOSUCH', 'CPU'] }), (e: Error) => {
    // the browser entry registers no CPU device
    assert.match(e.message, /ready: no device can run here \(NOSUCH: not registered; CPU: not registered\)/)
    return true
  })
})

test('ready() checks its options at the call', () => {
  assert.throws(
    () => ready({ prefered: ['JS'] } as never),
    /ready: unknown option 'prefered'; known options: prefer/,
  )
  assert.throws(
    () => ready({ prefer: 'JS' } as never),
    /ready: prefer must be a non-empty array of device names/,
  )
  assert.throws(() => ready({ prefer: [] }), /ready: prefer must be a non-empty array/)
})
