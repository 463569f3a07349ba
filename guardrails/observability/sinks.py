"""Where decision-log lines go: a rotating file, stdout, an HTTP endpoint in OPA's upload format.

A sink's ``write`` is called from the decision log's own thread, never the Guard's caller.
The HTTP sink goes one step further: ``write`` only appends to a bounded buffer, and its own
thread batches, gzips and uploads, retrying with exponential backoff. When the buffer is full
(the endpoint is slow or keeps failing) new events are dropped and counted in ``dropped``.
"""

from __future__ import annotations

import gzip
import logging
import logging.handlers
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from io import TextIOWrapper
from pathlib import Path
from typing import Any, Protocol, TextIO, cast

from guardrails.errors import ConfigError


class Sink(Protocol):
    """A destination for decision-log lines (one JSON event each, without the newline)."""

    name: str

    @property
    def dropped(self) -> int:
        """Events this sink accepted but could not deliver (its buffer was full, the endpoint refused)."""
        ...

    def write(self, lines: Sequence[bytes]) -> None: ...

    def flush(self, timeout: float) -> bool:
        """Deliver what is buffered; False when ``timeout`` passed first."""
        ...

    def close(self, timeout: float) -> None: ...


# -- file -------------------------------------------------------------------------------------
def _owner_only(path: str, flags: int) -> int:
    # Decision logs carry policy input: not world-readable, whatever the process umask.
    return os.open(path, flags, 0o600)


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """The stdlib's size-based rotation, with owner-only files and failures counted, not printed."""

    failed_lines = 0

    def _open(self) -> TextIOWrapper:
        stream = open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=_owner_only)
        return cast(TextIOWrapper, stream)

    def handleError(self, record: logging.LogRecord) -> None:
        self.failed_lines += int(getattr(record, "lines", 1))


class FileSink:
    """JSON lines in ``path``, rotated at ``max_bytes`` with ``backups`` old files (``path.1`` ...).

    Built on ``logging.handlers.RotatingFileHandler``. Lines are written in chunks well under
    ``max_bytes``, so a file only outgrows ``max_bytes`` by less than one chunk's worth.
    """

    name = "file"

    def __init__(self, path: str | Path, *, max_bytes: int = 100 * 1024 * 1024, backups: int = 5) -> None:
        if max_bytes < 1024:
            raise ConfigError("decision_log.max_bytes must be at least 1024")
        if backups < 0:
            raise ConfigError("decision_log.backups must not be negative")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._handler = _RotatingFile(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._chunk = min(64 * 1024, max_bytes // 4)

    @property
    def dropped(self) -> int:
        return self._handler.failed_lines

    def write(self, lines: Sequence[bytes]) -> None:
        chunk: list[str] = []
        size = 0
        for line in lines:
            text = line.decode("utf-8")
            if chunk and size + len(text) > self._chunk:
                self._emit(chunk)
                chunk, size = [], 0
            chunk.append(text)
            size += len(text) + 1
        if chunk:
            self._emit(chunk)

    def _emit(self, chunk: list[str]) -> None:
        record = logging.LogRecord("railguard.decision_log", logging.INFO, "", 0, "\n".join(chunk), None, None)
        record.lines = len(chunk)
        self._handler.handle(record)

    def flush(self, timeout: float) -> bool:
        self._handler.flush()
        return True

    def close(self, timeout: float) -> None:
        self._handler.close()


# -- stdout -----------------------------------------------------------------------------------
class StreamSink:
    """JSON lines on a text stream, stdout by default (OPA's ``decision_logs.console``)."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._failed = 0

    @property
    def dropped(self) -> int:
        return self._failed

    def write(self, lines: Sequence[bytes]) -> None:
        try:
            self._stream.write("".join(line.decode("utf-8") + "\n" for line in lines))
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: count, never raise into the log thread
            self._failed += len(lines)

    def flush(self, timeout: float) -> bool:
        return True

    def close(self, timeout: float) -> None:
        return None


# -- HTTP -------------------------------------------------------------------------------------
#: Statuses worth retrying; any other 4xx means the chunk itself is refused and is dropped.
RETRY_STATUSES = frozenset({408, 425, 429})


class HttpSink:
    """Uploads events as OPA does: ``POST`` of a gzipped JSON array (``Content-Encoding: gzip``).

    ``write`` appends to a buffer of at most ``buffer_events`` events and returns; a thread of
    its own uploads chunks of up to ``batch_events`` events (or ``batch_bytes`` uncompressed)
    every ``interval`` seconds or as soon as a chunk is full. A failed upload (network error,
    5xx, 408/425/429) keeps the chunk and retries after ``min_backoff * 2**n`` seconds (with
    jitter, at most ``max_backoff``); another 4xx drops the chunk. Nothing here ever blocks
    the decision log or the Guard. Needs ``httpx`` (the ``observability`` extra).
    """

    name = "http"

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        buffer_events: int = 10_000,
        batch_events: int = 500,
        batch_bytes: int = 4 * 1024 * 1024,
        interval: float = 1.0,
        timeout: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 60.0,
        client: Any = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"decision_log.url must be an http(s) URL, not {url!r}")
        if buffer_events < 1 or batch_events < 1:
            raise ConfigError("decision_log buffer and batch sizes must be positive")
        if client is None:
            try:
                import httpx
            except ImportError:
                raise ConfigError("the HTTP decision log needs httpx: pip install 'railguard[observability]'") from None
            client = httpx.Client(timeout=timeout)
        self.url = url
        self._client = client
        self._headers = {**(headers or {}), "Content-Type": "application/json", "Content-Encoding": "gzip"}
        self._max = buffer_events
        self._batch_events = batch_events
        self._batch_bytes = batch_bytes
        self._interval = interval
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._buffer: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._urgent = False  # a flush is waiting: upload without waiting for a full chunk
        self._dropped = 0
        self.sent = 0
        self.failed_uploads = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="railguard-decision-log-http", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def write(self, lines: Sequence[bytes]) -> None:
        with self._cond:
            room = self._max - len(self._buffer)
            if self._closing:
                room = 0
            self._buffer.extend(lines[: max(room, 0)])
            self._dropped += max(len(lines) - max(room, 0), 0)
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float) -> None:
        """Try to deliver what is buffered for up to ``timeout`` seconds, then stop; the rest is dropped."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 0.1) + 1.0)
        with self._cond:
            self._dropped += len(self._buffer)
            self._buffer.clear()
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def _chunk(self) -> list[bytes]:
        """The oldest events that fit one upload; they stay buffered until the upload succeeds."""
        chunk: list[bytes] = []
        size = 2
        for line in self._buffer:
            if chunk and (len(chunk) >= self._batch_events or size + len(line) + 1 > self._batch_bytes):
                break
            chunk.append(line)
            size += len(line) + 1
        return chunk

    def _run(self) -> None:
        failures = 0
        while True:
            with self._cond:
                deadline = time.monotonic() + self._interval
                while not self._closing and not self._urgent and len(self._buffer) < self._batch_events:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._closing:
                    return
                chunk = self._chunk()
            if not chunk:
                continue
            outcome = self._upload(chunk)
            with self._cond:
                if self._closing:
                    return  # close() gave up waiting and counted the buffer as dropped
                if outcome != "retry":
                    for _ in chunk:  # only this thread removes from the left: these are the same events
                        self._buffer.popleft()
                    if outcome == "sent":
                        self.sent += len(chunk)
                    else:
                        self._dropped += len(chunk)
                    failures = 0
                    self._urgent = bool(self._buffer) and self._urgent
                    self._cond.notify_all()
                    continue
                failures += 1
                self.failed_uploads += 1
                backoff = min(self._max_backoff, self._min_backoff * 2 ** min(failures - 1, 30))
                deadline = time.monotonic() + backoff * (0.5 + random.random() / 2)  # noqa: S311 (jitter)
                while not self._closing and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)

    def _upload(self, chunk: list[bytes]) -> str:
        body = gzip.compress(b"[" + b",".join(chunk) + b"]", compresslevel=6)
        try:
            response = self._client.post(self.url, content=body, headers=self._headers)
        except Exception as exc:  # the endpoint is down or slow: keep the chunk, try again later
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return "retry"
        status = int(response.status_code)
        if 200 <= status < 300:
            self.last_error = None
            return "sent"
        self.last_error = f"HTTP {status}"
        return "retry" if status >= 500 or status in RETRY_STATUSES else "refused"
