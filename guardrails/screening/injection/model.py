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
from typing import IO, Final

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


@dataclass(frozen=True, slots=True)
class NgramPositions:
    """Where each hashed n-gram starts, in a text padded with one space each side."""

    length: int
    char_pos: Ints
    char_idx: Ints
    word_pos: Ints
    word_idx: Ints


def _bucket(h: npt.NDArray[np.uint64], salt: np.uint64, bits: int) -> Ints:
    with np.errstate(over="ignore"):
        return ((h ^ salt) * _MIX >> _U64(64 - bits)).astype(np.int64)


def _word_hashes(cps: npt.NDArray[np.uint64]) -> tuple[Ints, npt.NDArray[np.uint64]]:
    # Words are runs of ASCII letters, digits and "_" or of non-ASCII characters outside
    # the punctuation blocks. Each word's hash is sum(c_j * R**(j - start)) mod 2**64, read
    # off one prefix sum with R's inverse, so no Python loop runs per word.
    is_word = np.where(cps < 128, _ASCII_WORD[np.minimum(cps, 127)], ~_is_punct_block(cps))
    edges = np.diff(np.concatenate([[False], is_word, [False]]).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    with np.errstate(over="ignore"):
        pows = np.cumprod(np.full(len(cps), _R, dtype=np.uint64)) * _R_INV  # R**i
        inv_pows = np.cumprod(np.full(len(cps), _R_INV, dtype=np.uint64)) * _R  # R**-i
        prefix = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(cps * pows, dtype=np.uint64)])
        hashes = (prefix[ends] - prefix[starts]) * inv_pows[starts]
    return starts.astype(np.int64), hashes


def _is_punct_block(cps: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    block: npt.NDArray[np.bool_] = (
        ((cps >= 0xA0) & (cps <= 0xBF))
        | ((cps >= 0x2000) & (cps <= 0x206F))
        | ((cps >= 0x3000) & (cps <= 0x303F))
        | ((cps >= 0xFF00) & (cps <= 0xFF0F))
        | (cps == 0xFFFD)
    )
    return block


def ngram_positions(text: str) -> NgramPositions:
    """Hash the n-grams of an already-normalised (casefolded) text."""
    padded = f" {text} "
    cps = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    length = len(padded)
    char_pos: list[Ints] = []
    char_idx: list[Ints] = []
    with np.errstate(over="ignore"):
        # The hash of an n-gram extends that of its (n-1)-gram prefix by one step, so each length
        # starts from the previous one's hashes (the same uint64 operations in the same order).
        h = np.zeros(length, dtype=np.uint64)
        for k in range(max(CHAR_NS)):
            count = length - k
            if count <= 0:
                break
            h = h[:count] * _PRIME + cps[k : k + count]
            n = k + 1
            if n in CHAR_NS:
                char_pos.append(np.arange(count, dtype=np.int64))
                char_idx.append(_bucket(h, _SALTS[n], CHAR_BITS))
    wp, wh = _word_hashes(cps)
    with np.errstate(over="ignore"):
        bigrams = wh[:-1] * _PRIME + wh[1:]
    word_pos = np.concatenate([wp, wp[:-1]]) if len(wp) else wp
    word_idx = np.concatenate([_bucket(wh, _SALTS[101], WORD_BITS), _bucket(bigrams, _SALTS[102], WORD_BITS)])
    empty = np.zeros(0, dtype=np.int64)
    return NgramPositions(
        length=length,
        char_pos=np.concatenate(char_pos) if char_pos else empty,
        char_idx=np.concatenate(char_idx) if char_idx else empty,
        word_pos=word_pos,
        word_idx=word_idx.astype(np.int64) if len(word_idx) else empty,
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
        pos = ngram_positions(text)
        starts = window_starts(pos.length)
        ends = np.minimum(starts + WINDOW, pos.length)
        logits = np.full(len(starts), self._bias)
        for positions, idx, table in (
            (pos.char_pos, pos.char_idx, self._char),
            (pos.word_pos, pos.word_idx, self._word),
        ):
            if not len(idx):
                continue
            sums = np.concatenate([[0.0], np.cumsum(np.bincount(positions, weights=table[idx], minlength=pos.length))])
            counts = np.concatenate([[0], np.cumsum(np.bincount(positions, minlength=pos.length))])
            n = counts[ends] - counts[starts]
            logits += (sums[ends] - sums[starts]) / np.sqrt(np.maximum(n, 1))
        return logits

    def score(self, text: str) -> float:
        """Probability that ``text`` (normalised) carries an injection, from its worst window."""
        top = float(np.max(self.window_logits(text)))
        return float(1.0 / (1.0 + np.exp(-np.clip(top, -40.0, 40.0))))
