"""The request body, bounded while it is read, and refused early when it is not UTF-8.

``Content-Length`` is only a hint (a chunked body has none, and a client may lie): the bytes are
counted as they arrive and the request is refused with 413 the moment they pass the limit,
before anything parses them. The body read so far is then replayed to the application.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardrails import codes
from guardrails.service.problems import problem

MiB = 1024 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MiB) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"")
        if scope["path"].startswith("/v1/") and body and not _is_json(content_type):
            detail = "the body must be JSON: send Content-Type: application/json"
            await problem(415, codes.UNSUPPORTED_MEDIA_TYPE, detail)(scope, receive, send)
            return
        if _is_json(content_type):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                detail = f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
                await problem(400, codes.INVALID_ENCODING, detail)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # the disconnect, when the client goes away
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body exceeds {self.max_body_bytes} bytes"
        # Connection: close, so the server does not read the rest of an oversized upload.
        response = problem(413, codes.BODY_TOO_LARGE, detail, headers={"Connection": "close"})
        await response(scope, receive, send)


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in (b"", b"application/json") or media.endswith(b"+json")
