// docs/api.md lists every public op: each Tensor method/getter and static, each export of the
// package, nn, optim and nn.datasets appears in a code span there (so a new op without a line in
// the API page fails here).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as tsgrad from '../../src/index.ts'

const { nn, optim, Tensor } = tsgrad
const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'api.md'), 'utf8')
/** identifiers inside `code spans` */
const documented = new Set(
  [...doc.matchAll(/`([^`]+)`/g)].flatMap((m) => [...m[1]!.matchAll(/[A-Za-z_$][\w$]*/g)].map((w) => w[0])),
)

// TypeScript-private members and internal helpers the op families use (not user API)
const INTERNAL = new Set([
  'constructor',
  '_broadcastTo',
  'scalar',
  // the graph node and the value-semantics bookkeeping (tensor.ts, lazy_readers.ts)
  'uop',
  'trackLazy',
  'lazyNode',
  'valueAt',
  'overwritten',
  'disposedError',
  'becomeRealized',
  'checkNotStale',
  // a composite's internal tensors stop holding their buffer (tensor.ts)
  'releaseHandle',
])
const INTERNAL_STATICS = new Set([
  'length',
  'name',
  'prototype',
  'alu',
  'broadcast',
  'fromUOp',
  'iota',
  // the optimizers' access to gradients that does not count as a user's read (nn/optimizer.ts)
  'gradUnread',
  'releaseGrad',
])

function missing(names: Iterable<string>, where: string, skip = new Set<string>()): string[] {
  return [...names].filter((n) => !skip.has(n) && !documented.has(n)).map((n) => `${where}${n}`)
}

test('every public Tensor method and getter is in docs/api.md', () => {
  const names = Object.getOwnPropertyNames(Tensor.prototype)
  assert.ok(names.length > 150, `only ${names.length} prototype names: is the enumeration broken?`)
  assert.deepEqual(missing(names, 'Tensor.prototype.', INTERNAL), [])
})

test('every Tensor static is in docs/api.md', () => {
  assert.deepEqual(missing(Object.getOwnPropertyNames(Tensor), 'Tensor.', INTERNAL_STATICS), [])
})

test('every export of the package, nn, optim and nn.datasets is in docs/api.md', () => {
  assert.deepEqual(
    [
      ...missing(Object.keys(tsgrad), ''),
      ...missing(Object.keys(nn), 'nn.'),
      ...missing(Object.keys(optim), 'optim.'),
      ...missing(Object.keys(nn.datasets), 'nn.datasets.'),
    ],
    [],
  )
})

test('every export of the browser entry is in docs/api.md', async () => {
  const browser = await import('../../src/browser.ts')
  const names = Object.keys(browser)
  assert.ok(names.includes('ready') && names.includes('Tensor'), `browser entry exports: ${names}`)
  assert.deepEqual(missing(names, 'browser: '), [])
})
