"""The hook for a larger local model the user installs: a ``Protocol`` and an ONNX loader.

Railguard ships no large model and downloads nothing. A user who has, say, an exported
DeBERTa prompt-injection classifier on disk wraps it with :class:`OnnxClassifier` (or any
object with a ``score(text) -> float`` method) and passes it to ``InjectionDetector``:

    >>> scorer = OnnxClassifier.from_path("/models/pi-deberta", tokenize=my_tokenizer)  # doctest: +SKIP
    >>> detector = InjectionDetector(external=scorer)  # doctest: +SKIP

``onnxruntime`` is imported only here and only when the loader is used, so the package
works without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Tokenize = Callable[[str], Mapping[str, npt.NDArray[Any]]]


@runtime_checkable
class ExternalScorer(Protocol):
    """Anything that maps a normalised text to an injection probability in [0, 1]."""

    def score(self, text: str) -> float: ...


class ExternalModelError(RuntimeError):
    """The external model could not be loaded or returned something unusable."""


class OnnxClassifier:
    """A sequence classifier exported to ONNX, run with onnxruntime on the CPU.

    ``tokenize`` turns a text into the model's named inputs (``input_ids``,
    ``attention_mask``...). The first output must be logits of shape ``(1, n_classes)``
    (softmax is applied) or ``(1, 1)`` / ``(1,)`` (sigmoid); ``positive_index`` selects the
    injection class. Texts longer than ``max_chars`` are scored on their head and tail.
    """

    def __init__(self, session: Any, tokenize: Tokenize, *, positive_index: int = 1, max_chars: int = 4000) -> None:
        self._session = session
        self._tokenize = tokenize
        self._positive = positive_index
        self._max_chars = max_chars
        self._input_names = {i.name for i in session.get_inputs()}

    @classmethod
    def from_path(cls, path: str | Path, tokenize: Tokenize, *, positive_index: int = 1) -> OnnxClassifier:
        """Load ``path`` (a ``.onnx`` file, or a folder holding ``model.onnx``) from local disk."""
        model = Path(path)
        if model.is_dir():
            model = model / "model.onnx"
        if not model.is_file():
            raise ExternalModelError(f"no ONNX model at {model}")
        try:
            ort = importlib.import_module("onnxruntime")
        except ImportError as exc:
            raise ExternalModelError("onnxruntime is not installed: pip install onnxruntime") from exc
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        return cls(session, tokenize, positive_index=positive_index)

    def score(self, text: str) -> float:
        if len(text) > self._max_chars:
            half = self._max_chars // 2
            text = text[:half] + " " + text[-half:]
        feeds = {k: v for k, v in self._tokenize(text).items() if k in self._input_names}
        logits = np.asarray(self._session.run(None, feeds)[0], dtype=np.float64).reshape(-1)
        if logits.size == 1:
            return float(1.0 / (1.0 + np.exp(-np.clip(logits[0], -40.0, 40.0))))
        if not 0 <= self._positive < logits.size:
            raise ExternalModelError(f"model has {logits.size} classes; positive_index {self._positive} is outside")
        shifted = np.exp(logits - logits.max())
        return float(shifted[self._positive] / shifted.sum())
