#!/usr/bin/env python3
"""Writes test/fixtures/bpe_train.json: byte-level BPE merges learned from small corpora by an
independent reference trainer, and the encodings of a few texts under the learned vocabulary.

  python3 scripts/gen_bpe_train_fixtures.py     (needs the `regex` module for \\p{L})

The reference is the textbook algorithm, recounting every pair before each merge: words come
from the pre-tokenizer regex (Hugging Face's Split patterns: LLaMA-3's and GPT-2's), special-token
text is cut out first, every word starts as its UTF-8 bytes (ids 0..255), and the most frequent
adjacent pair merges into a new token (a merge whose text is already a token reuses its id).
Ties go to the smallest (left id, right id), as in Hugging Face `tokenizers`. Then the special
tokens follow the merged tokens.

Encoding: words by the same regex; with LLaMA-3's pre-tokenizer a word that is a token as a
whole is that token (Hugging Face's ignore_merges); otherwise the adjacent pair of lowest merge
rank merges first (leftmost on ties) until none is left.
"""
import json
import os

import regex

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'bpe_train.json')

PATTERNS = {
    'llama3': r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    'gpt2': r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
}
SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>']


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


B2U = bytes_to_unicode()


def split_specials(text, specials):
    if not specials:
        return [text]
    alt = '|'.join(regex.escape(s) for s in sorted(specials, key=len, reverse=True))
    return regex.split(alt, text)


def words_of(texts, pattern, specials):
    counts = {}
    for text in texts:
        for part in split_specials(text, specials):
            for w in regex.findall(pattern, part):
                counts[w] = counts.get(w, 0) + 1
    return counts


def train(texts, vocab_size, pre, specials):
    counts = words_of(texts, PATTERNS[pre], specials)
    tokens = [B2U[b] for b in range(256)]
    ids = {t: i for i, t in enumerate(tokens)}
    words = [(list(w.encode('utf-8')), c) for w, c in counts.items()]
    merges = []
    while len(tokens) < vocab_size - len(specials):
        pairs = {}
        for syms, c in words:
            for p in zip(syms, syms[1:]):
                pairs[p] = pairs.get(p, 0) + c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
        a, b = best
        text = tokens[a] + tokens[b]
        if text not in ids:
            ids[text] = len(tokens)
            tokens.append(text)
        m = ids[text]
        merges.append(f'{tokens[a]} {tokens[b]}')
        for syms, _ in words:
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(m)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms[:] = out
    return tokens + specials, merges


def encode(text, tokens, merges, pre, specials):
    ids = {t: i for i, t in enumerate(tokens)}
    rank = {tuple(m.split(' ')): r for r, m in enumerate(merges)}
    out = []
    alt = '|'.join(regex.escape(s) for s in sorted(specials, key=len, reverse=True))
    pos = 0
    pieces = []
    for mt in regex.finditer(alt, text):
        pieces.append((text[pos:mt.start()], None))
        pieces.append((None, mt.group(0)))
        pos = mt.end()
    pieces.append((text[pos:], None))
    for plain, special in pieces:
        if special is not None:
            out.append(ids[special])
            continue
        for w in regex.findall(PATTERNS[pre], plain):
            spelled = ''.join(B2U[b] for b in w.encode('utf-8'))
            if pre == 'llama3' and spelled in ids:
                out.append(ids[spelled])
                continue
            syms = [B2U[b] for b in w.encode('utf-8')]
            while len(syms) > 1:
                best = None
                for i in range(len(syms) - 1):
                    r = rank.get((syms[i], syms[i + 1]))
                    if r is not None and (best is None or r < best[0]):
                        best = (r, i)
                if best is None:
                    break
                i = best[1]
                syms[i:i + 2] = [syms[i] + syms[i + 1]]
            out.extend(ids[s] for s in syms)
    return out


CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog didn't care; the fox's tail was quick!\n"
    "Numbers: 1234567 and 89, 2024-12-07, 3.14159 -- also 42 apples and 7 pears.\n\n"
    "  Indented line with  double  spaces\tand a tab.\n",
    "Ünïcödé wörds: café, naïve, Straße, Ελληνικά, русский текст, 日本語のテキスト, emoji 🙂🚀 and ✓ marks.\n"
    "They'll say it's fine; we've seen THEY'RE and I'M shouting. <|end_of_text|>She said \"hello\" twice.",
    "the the the then there these those this that thin thing things thinking\n" * 3,
    "A second document, with the quick brown fox again: the fox, the dog, the end.<|begin_of_text|>",
    "   \n\n\t trailing whitespace runs   ",
]
ENCODE_TEXTS = [
    "The quick brown fox didn't jump over 12345 lazy dogs!",
    "Ünïcödé café 🙂 and unseen ✗ ☃ characters, русский.",
    "<|begin_of_text|>hello world<|end_of_text|>  spaces  \n\n tabs\t\tthings",
    "thinking things then there",
]
CASES = [
    {'name': 'llama3_small', 'pre': 'llama3', 'vocab_size': 400},
    {'name': 'gpt2_small', 'pre': 'gpt2', 'vocab_size': 360},
    # more merges than the corpus holds pairs for: training stops early
    {'name': 'llama3_exhausted', 'pre': 'llama3', 'vocab_size': 5000},
]


def main():
    out = {'corpus': CORPUS, 'specials': SPECIALS, 'encodeTexts': ENCODE_TEXTS, 'cases': []}
    for c in CASES:
        tokens, merges = train(CORPUS, c['vocab_size'], c['pre'], SPECIALS)
        out['cases'].append({
            'name': c['name'], 'pretokenizer': c['pre'], 'vocabSize': c['vocab_size'],
            'tokens': tokens, 'merges': merges,
            'encodings': [encode(t, tokens, merges, c['pre'], SPECIALS) for t in ENCODE_TEXTS],
        })
    with open(OUT, 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
