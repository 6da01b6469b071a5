// The BPE merge loop shared by both tokenizer kinds: symbols in a linked list, candidate pairs in a
// binary heap ordered by (rank, position), so a word of n symbols takes O(n log n) — a 100 KB
// run of spaces or a SentencePiece text without pre-tokenization (one "word") stays fast. Ties
// in rank go to the leftmost pair, as Hugging Face `tokenizers` and llama.cpp do.
import { TsgradError } from '../helpers.js'

/**
 * The merge of two adjacent symbols: `rank * 2^24 + resultId` (lower rank merges first), or -1
 * when the pair does not merge. Ranks must be below 2^28 and ids below 2^24.
 */
export type PairLookup = (left: number, right: number) => number

const ID_SPAN = 2 ** 24
/** positions per rank in a heap key: words longer than this are split by the caller */
export const MAX_WORD_SYMBOLS = 2 ** 24

/** Merges `ids` (one word's initial symbols) in place of a copy; returns the merged ids. */
export function bpeMerge(ids: readonly number[], pair: PairLookup): number[] {
  const n = ids.length
  if (n < 2) return ids.slice()
  const id = Int32Array.from(ids)
  const prev = new Int32Array(n)
  const next = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1
    next[i] = i + 1 < n ? i + 1 : -1
  }
  const heap = new MinHeap()
  const push = (pos: number): void => {
    const r = next[pos]
    if (r < 0) return
    const m = pair(id[pos], id[r])
    if (m >= 0) heap.push(Math.floor(m / ID_SPAN) * MAX_WORD_SYMBOLS + pos)
  }
  for (let i = 0; i + 1 < n; i++) push(i)
  while (heap.size > 0) {
    const key = heap.pop()
    const pos = key % MAX_WORD_SYMBOLS
    const rank = (key - pos) / MAX_WORD_SYMBOLS
    if (id[pos] < 0) continue // merged into its left neighbour since
    const r = next[pos]
    if (r < 0) continue
    const m = pair(id[pos], id[r])
    // a stale entry: the pair at this position changed after it was pushed
    if (m < 0 || Math.floor(m / ID_SPAN) !== rank) continue
    id[pos] = m % ID_SPAN
    id[r] = -1
    const rr = next[r]
    next[pos] = rr
    if (rr >= 0) prev[rr] = pos
    if (prev[pos] >= 0) push(prev[pos])
    push(pos)
  }
  const out: number[] = []
  for (let i = 0; i >= 0; i = next[i]) out.push(id[i])
  return out
}

/** A binary min-heap of non-negative safe integers. */
class MinHeap {
  private a: number[] = []
  get size(): number {
    return this.a.length
  }
  push(v: number): void {
    const a = this.a
    let i = a.length
    a.push(v)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (a[p] <= v) break
      a[i] = a[p]
      i = p
    }
    a[i] = v
  }
  pop(): number {
    const a = this.a
    const top = a[0]
    const last = a.pop() as number
    const n = a.length
    if (n === 0) return top
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && a[c + 1] < a[c]) c++
      if (a[c] >= last) break
      a[i] = a[c]
      i = c
    }
    a[i] = last
    return top
  }
}

/**
 * Merge ranks by the merge's text ('left right'), looked up lazily per symbol pair and memoized:
 * building a pair table of a 280k-merge vocabulary up front would cost most of the load time.
 * A merge whose parts or result are not tokens is an error when an encode reaches it.
 */
export class MergeTable {
  private readonly ranks = new Map<string, number>()
  private readonly memo = new Map<number, number>()

  constructor(
    merges: readonly (string | readonly [string, string])[],
    private readonly mergesKey: string,
    private readonly tokens: readonly string[],
    private readonly tokenToId: ReadonlyMap<string, number>,
  ) {
    if (tokens.length >= 2 ** 24)
      throw new TsgradError(`tokenizer: ${tokens.length} tokens, at most 2^24 supported`)
    if (merges.length >= 2 ** 28)
      throw new TsgradError(`tokenizer: ${merges.length} merges, at most 2^28 supported`)
    for (let r = 0; r < merges.length; r++) {
      const m = merges[r]
      const text = typeof m === 'string' ? m : `${m[0]} ${m[1]}`
      if (typeof m === 'string' && m.indexOf(' ', 1) < 0)
        throw new TsgradError(`tokenizer: ${mergesKey}[${r}] = '${m}' is not 'left right'`)
      if (!this.ranks.has(text)) this.ranks.set(text, r)
    }
  }

  /** The PairLookup of this table. */
  readonly pair: PairLookup = (a, b) => {
    const key = a * this.tokens.length + b
    const hit = this.memo.get(key)
    if (hit !== undefined) return hit
    const left = this.tokens[a]
    const right = this.tokens[b]
    const rank = this.ranks.get(`${left} ${right}`)
    let m = -1
    if (rank !== undefined) {
      const id = this.tokenToId.get(left + right)
      if (id === undefined)
        throw new TsgradError(
          `tokenizer: ${this.mergesKey}[${rank}] = '${left} ${right}': '${left + right}' is not in the vocabulary`,
        )
      m = rank * ID_SPAN + id
    }
    this.memo.set(key, m)
    return m
  }
}
