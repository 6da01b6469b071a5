// The unigram baseline: the entropy (nats/token) of a token stream's own unigram distribution,
// the loss of the best model that ignores context (fitted on the very tokens it is scored on).
export function unigramEntropy(tokens: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize)
  for (const t of tokens) counts[t]!++
  let h = 0
  const n = tokens.length
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n)
  return h
}
