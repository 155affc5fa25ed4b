#!/usr/bin/env python3
"""reference_bpe.py - a plain Python GPT-2 tokenizer to check knlp's against.

  reference_bpe.py VOCAB_DIR FILE    print FILE's GPT-2 ids, comma-separated

Written from GPT-2's published algorithm, sharing nothing with src/data/bpe.cpp:
the `regex` module runs GPT-2's pattern itself (the C++ side writes it out by
hand over ICU classes), and merges follow encoder.py's loop: merge every
occurrence of the lowest-ranked pair, rescan, repeat. "<|endoftext|>" is the
special token, as in knlp. Bytes that are not UTF-8 become lone surrogates
("surrogateescape"), which no class of the pattern matches, and go back to the
same bytes before the merges.
"""
import json
import sys

import regex

PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
SPECIAL = "<|endoftext|>"


def byte_chars():
    """byte -> the printable character encoder.json writes it as."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    extra = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep}
    table.update({b: chr(256 + i) for i, b in enumerate(extra)})
    return table


class Gpt2:
    def __init__(self, vocab_dir):
        with open(f"{vocab_dir}/encoder.json", encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(f"{vocab_dir}/vocab.bpe", encoding="utf-8") as f:
            lines = [l for l in f.read().split("\n")[1:] if l]
        self.ranks = {tuple(l.split(" ")): i for i, l in enumerate(lines)}
        self.chars = byte_chars()
        self.cache = {}

    def bpe(self, word):
        """The tokens of one piece (a tuple of byte characters)."""
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return word

    def encode(self, data):
        text = data.decode("utf-8", "surrogateescape")
        ids = []
        for k, part in enumerate(text.split(SPECIAL)):
            if k:
                ids.append(self.encoder[SPECIAL])
            for piece in PATTERN.findall(part):
                if piece not in self.cache:
                    raw = piece.encode("utf-8", "surrogateescape")
                    tokens = self.bpe(tuple(self.chars[b] for b in raw))
                    self.cache[piece] = [self.encoder[t] for t in tokens]
                ids.extend(self.cache[piece])
        return ids


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2], "rb") as f:
        data = f.read()
    print(",".join(map(str, Gpt2(argv[1]).encode(data))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
