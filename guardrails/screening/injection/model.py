"""The shipped statistical model: hashed character and word n-grams, a linear layer, numpy only.

Features are character 3-, 4- and 5-grams and word 1- and 2-grams of the normalised
text, hashed into fixed tables (``2**CHAR_BITS`` and ``2**WORD_BITS`` buckets), counted,
and scaled by ``1/sqrt(n)`` per family, n being the n-grams in the window. The model scores
overlapping windows of ``WINDOW`` characters and keeps the highest: an attack embedded in a
long benign tool output is not diluted by the text around it.

Every window's sum comes from one cumulative sum over the text, so scoring is linear in
the text's length whatever the number of windows. The training script
(``scripts/train_injection.py``) builds its rows with :func:`window_rows` from this
module, so training and inference cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Final, cast

import numpy as np
import numpy.typing as npt

CHAR_BITS: Final = 18
WORD_BITS: Final = 17
CHAR_NS: Final = (3, 4, 5)
WINDOW: Final = 256
STRIDE: Final = 128
FORMAT_VERSION: Final = 1

_U64 = np.uint64
_PRIME = _U64(0x100000001B3)
_MIX = _U64(0x9E3779B97F4A7C15)
_SALTS = {n: _U64(0xA24BAED4963EE407 * n & 0xFFFFFFFFFFFFFFFF) for n in (*CHAR_NS, 101, 102)}
_ASCII_WORD = np.array([chr(i).isalnum() or chr(i) == "_" for i in range(128)], dtype=np.bool_)
_R = _U64(0x5BD1E9955BD1E995)  # odd, so invertible modulo 2**64
_R_INV = _U64(pow(0x5BD1E9955BD1E995, -1, 1 << 64))

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
U64s = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class NgramPositions:
    """Where each hashed n-gram starts, in a text padded with one space each side."""

    length: int
    char_pos: Ints
    char_idx: Ints
    word_pos: Ints
    word_idx: Ints


def _bucket(h: npt.NDArray[np.uint64], salt: np.uint64, bits: int) -> Ints:
    return _mix(h ^ salt, bits)


def _mix(salted: npt.NDArray[np.uint64], bits: int) -> Ints:
    # In place, and read back as int64 (the values fit): 2 array passes, not 4.
    salted *= _MIX
    salted >>= _U64(64 - bits)
    return salted.view(np.int64)


# Word characters, by code point: ASCII letters, digits and "_", and non-ASCII characters outside
# the punctuation blocks (U+00A0-00BF, U+2000-206F, U+3000-303F, U+FF00-FF0F, U+FFFD).
_WORD_CHAR = np.ones(0x110000, dtype=np.bool_)
_WORD_CHAR[:128] = _ASCII_WORD
for _low, _high in ((0xA0, 0xBF), (0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFF0F), (0xFFFD, 0xFFFD)):
    _WORD_CHAR[_low : _high + 1] = False


def _powers(count: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """``R**i`` and ``R**-i`` modulo 2**64 for ``i < count``."""
    with np.errstate(over="ignore"):
        pows = np.cumprod(np.full(count, _R, dtype=np.uint64)) * _R_INV
        inv_pows = np.cumprod(np.full(count, _R_INV, dtype=np.uint64)) * _R
    return cast(U64s, pows), cast(U64s, inv_pows)


# Powers for texts up to this long are computed once (2 MB): short texts were paying for two
# cumulative products per score. Modular products are exact, so any prefix is the same numbers.
_CACHED_POWERS = _powers(1 << 17)


def _word_hashes(cps: npt.NDArray[np.uint64]) -> tuple[Ints, npt.NDArray[np.uint64]]:
    # ``cps``: the padded text's code points. Words are runs of ASCII letters, digits and "_" or
    # of non-ASCII characters outside the punctuation blocks. Each word's hash is
    # sum(c_j * R**(j - start)) mod 2**64, read off one prefix sum with R's inverse, so no Python
    # loop runs per word. The padding spaces are not word characters, so the changes of is_word
    # alternate start, end, start, end...
    # (A comparison of neighbours, not np.diff: the same changes without np.diff's own overhead.)
    is_word = _WORD_CHAR[cps]
    changes = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    starts, ends = changes[0::2], changes[1::2]
    count = len(cps)
    pows, inv_pows = _powers(count) if count > len(_CACHED_POWERS[0]) else (p[:count] for p in _CACHED_POWERS)
    prefix = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(cps * pows, dtype=np.uint64)])
    hashes = (prefix[ends] - prefix[starts]) * inv_pows[starts]
    return starts, hashes


@dataclass(frozen=True, slots=True)
class _Ngrams:
    """The hashed n-grams of a text padded with one space each side, by kind. ``chars`` holds the
    buckets of the character n-grams, of each length in ``CHAR_NS`` in turn, in the order they
    start (``char_counts`` of each length, as far as the text is long enough); ``unigrams`` and
    ``bigrams`` those of the words and of each word with the next, starting at ``word_starts``."""

    length: int
    chars: Ints
    char_counts: tuple[int, ...]
    word_starts: Ints
    unigrams: Ints
    bigrams: Ints

    def char_positions(self) -> Ints:
        """Where each of ``chars`` starts."""
        longest = np.arange(self.char_counts[0] if self.char_counts else 0, dtype=np.int64)
        return np.concatenate([longest[:count] for count in self.char_counts]) if self.char_counts else longest


def _ngrams(text: str) -> _Ngrams:
    padded = f" {text} "
    cps = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    length = len(cps)
    counts = tuple(length - n + 1 for n in CHAR_NS if length - n + 1 > 0)
    salted = np.empty(sum(counts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        # The hash of an n-gram extends that of its (n-1)-gram prefix by one step, so each length
        # starts from the previous one's hashes. 1-grams: c (that is, 0 * _PRIME + c). Each
        # length's salted hashes go into one array, mixed into buckets together.
        h, at = cps, 0
        for n in range(2, max(CHAR_NS) + 1):
            count = length - n + 1
            if count <= 0:
                break
            h = h[:count] * _PRIME + cps[n - 1 : n - 1 + count]
            if n in CHAR_NS:
                np.bitwise_xor(h, _SALTS[n], out=salted[at : at + count])
                at += count
        word_starts, words = _word_hashes(cps)
        bigrams = words[:-1] * _PRIME + words[1:]
    return _Ngrams(
        length,
        _mix(salted, CHAR_BITS),
        counts,
        word_starts,
        _bucket(words, _SALTS[101], WORD_BITS),
        _bucket(bigrams, _SALTS[102], WORD_BITS),
    )


def ngram_positions(text: str) -> NgramPositions:
    """Hash the n-grams of an already-normalised (casefolded) text."""
    grams = _ngrams(text)
    wp = grams.word_starts
    empty = np.zeros(0, dtype=np.int64)
    return NgramPositions(
        length=grams.length,
        char_pos=grams.char_positions(),
        char_idx=grams.chars,
        word_pos=np.concatenate([wp, wp[:-1]]) if len(wp) else wp,
        word_idx=np.concatenate([grams.unigrams, grams.bigrams]) if len(wp) else empty,
    )


def window_starts(length: int) -> Ints:
    """Start offsets of the overlapping windows; the last one ends at the text's end."""
    if length <= WINDOW:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - WINDOW, STRIDE, dtype=np.int64)
    return np.append(starts, length - WINDOW)


def window_rows(text: str) -> list[tuple[int, int, dict[int, float]]]:
    """Training rows: ``(start, end, {feature index: value})`` per window (word indices offset)."""
    pos = ngram_positions(text)
    families = []
    for positions, idx, offset in ((pos.char_pos, pos.char_idx, 0), (pos.word_pos, pos.word_idx, 1 << CHAR_BITS)):
        order = np.argsort(positions, kind="stable")
        families.append((positions[order], idx[order], offset))
    rows: list[tuple[int, int, dict[int, float]]] = []
    for s in window_starts(pos.length).tolist():
        e = s + WINDOW
        feats: dict[int, float] = {}
        for positions, idx, offset in families:
            lo, hi = np.searchsorted(positions, [s, e])
            sel = idx[lo:hi]
            if not len(sel):
                continue
            uniq, counts = np.unique(sel, return_counts=True)
            scale = 1.0 / np.sqrt(len(sel))
            for i, c in zip(uniq.tolist(), counts.tolist(), strict=True):
                feats[i + offset] = c * scale
        rows.append((s, min(e, pos.length), feats))
    return rows


class HashedNgramModel:
    """Logistic regression over hashed n-grams; ``score`` is the highest window's probability."""

    def __init__(self, char_weights: Floats, word_weights: Floats, bias: float) -> None:
        if char_weights.shape != (1 << CHAR_BITS,) or word_weights.shape != (1 << WORD_BITS,):
            raise ValueError("model weights do not match the feature tables of this version")
        self._char = char_weights.astype(np.float64)
        self._word = word_weights.astype(np.float64)
        self._bias = float(bias)

    @classmethod
    def load(cls, stream: IO[bytes]) -> HashedNgramModel:
        with np.load(stream, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported injection model format {meta.get('format')!r}")
            return cls(data["char"], data["word"], float(data["bias"]))

    def save(self, stream: IO[bytes], extra_meta: dict[str, object] | None = None) -> None:
        meta: dict[str, object] = {
            "format": FORMAT_VERSION,
            "char_bits": CHAR_BITS,
            "word_bits": WORD_BITS,
            "window": WINDOW,
        }
        meta |= extra_meta or {}
        np.savez_compressed(
            stream,
            char=self._char.astype(np.float16),
            word=self._word.astype(np.float16),
            bias=np.array(self._bias),
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )

    def window_logits(self, text: str) -> Floats:
        grams = _ngrams(text)
        length = grams.length
        starts = window_starts(length)
        ends = np.minimum(starts + WINDOW, length)
        # Character n-grams, then words, as training's rows list them: each family's weights
        # are summed per window and scaled by 1/sqrt(n), n the family's n-grams in the window.
        # Both families share one table (a row each, after a leading zero) and one cumulative
        # sum: numpy's fixed cost per call, not the arithmetic, is most of a short text's time.
        sums = np.zeros((2, length + 1))
        n = np.zeros((2, len(starts)), dtype=np.int64)
        if grams.char_counts:
            n[0] = self._char_weights(grams, sums[0, 1:], starts, ends)
        if len(grams.word_starts):
            n[1] = self._word_weights(grams, sums[1, 1:], starts, ends)
        np.cumsum(sums, axis=1, out=sums)
        terms = (sums[:, ends] - sums[:, starts]) / np.sqrt(np.maximum(n, 1))
        logits: Floats = self._bias + terms[0] + terms[1]
        return logits

    def _char_weights(self, grams: _Ngrams, weights: Floats, starts: Ints, ends: Ints) -> Ints:
        """Fill ``weights`` per start position with its 3-, 4- and 5-gram's weights, added in that
        order; return the character n-grams per window."""
        weights[:] = np.bincount(grams.char_positions(), self._char[grams.chars], grams.length)
        # The n-grams of each length start at 0, 1, ... count - 1.
        counts = np.array(grams.char_counts)
        n: Ints = (np.minimum(ends[:, None], counts) - np.minimum(starts[:, None], counts)).sum(axis=1)
        return n

    def _word_weights(self, grams: _Ngrams, weights: Floats, starts: Ints, ends: Ints) -> Ints:
        """Fill ``weights`` (zeros) per word start with the word's weight, then that of the bigram
        it begins (all but the last); return the words and bigrams per window."""
        word_starts = grams.word_starts
        weights[word_starts] += self._word[grams.unigrams]
        weights[word_starts[:-1]] += self._word[grams.bigrams]
        first, last = np.searchsorted(word_starts, starts), np.searchsorted(word_starts, ends)
        bigram_count = len(word_starts) - 1
        n: Ints = (last - first) + (np.minimum(last, bigram_count) - np.minimum(first, bigram_count))
        return n

    def score(self, text: str) -> float:
        """Probability that ``text`` (normalised) carries an injection, from its worst window."""
        top = float(self.window_logits(text).max())
        return float(1.0 / (1.0 + np.exp(-min(max(top, -40.0), 40.0))))
