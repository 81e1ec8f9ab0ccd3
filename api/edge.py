"""The request size limit, as ASGI middleware: a body larger than the limit is refused with
413 in the documented error format, whether its Content-Length says so up front or a chunked
body shows it while it streams in (read here up to the limit, never beyond).

The codec server (`/codec`) has its own, larger limit: the Web UI sends it whole histories.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT = 1_048_576  # 1 MiB: a need's text, details and attachments' names, with room
CODEC_LIMIT = 8 * 1_048_576


def _body(limit: int) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": f"the request body exceeds {limit} bytes",
                "field": "body",
            }
        }
    ).encode()


class SizeLimit:
    def __init__(
        self, app: ASGIApp, limit: int = DEFAULT_LIMIT, codec_limit: int = CODEC_LIMIT
    ) -> None:
        self.app, self.limit, self.codec_limit = app, limit, codec_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.codec_limit if scope["path"].startswith("/codec") else self.limit
        declared = _content_length(scope)
        if declared is not None:  # the server holds the body to its declared length
            if declared > limit:
                await self._refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        # no length declared (chunked): read it here, counting, then hand it on
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = _body(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
