"""Refuse bodies over their limit and control characters anywhere in a request, before any route, parser or
database driver sees them.

PostgreSQL cannot store NUL in text, and no identifier, header or one-line field has a use for the other C0
characters either. One middleware checks every request once, with its body limit:

| part of the request | refused |
| --- | --- |
| path (percent-decoded) | C0 (U+0000–U+001F) and DEL (U+007F) |
| query string (raw and percent-encoded) | C0 and DEL |
| header values | C0 except tab, and DEL (RFC 9110 §5.5; the server has checked the names) |
| form bodies (x-www-form-urlencoded) | C0 and DEL, raw or percent-encoded |
| every other body, read as JSON (raw and `\\uXXXX` escapes) | C0 except tab, LF and CR; DEL; lone surrogates |

Tab, LF and CR stay allowed in JSON because free text may span lines; each field then applies its own rules
(hub.core.text: names and one-line text refuse them). A lone UTF-16 surrogate (`"\\ud800"`) is no character at
all and cannot be encoded for storage. Upload bodies (CSV, JSONL and XLSX files) are left to their readers,
which report a bad cell as that row's error.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.core.errors import ControlCharacter, HubError, InvalidUnicode, PayloadTooLarge, problem

# Raw bytes are looked for with bytes.translate, which deletes them in C several times faster than a regex scan.
_C0_DEL = bytes(range(0x20)) + b"\x7f"
_IN_HEADER = _C0_DEL.replace(b"\t", b"")
_IN_JSON = _IN_HEADER.replace(b"\n", b"").replace(b"\r", b"")
_PATH = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT_ENCODED = re.compile(rb"%(?:[01][0-9A-Fa-f]|7[Ff])")
_JSON_CONTROL = re.compile(rb"\\u00(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f]|7[Ff])")
_JSON_LONE_SURROGATE = re.compile(rb"\\u[Dd][89ABab][0-9A-Fa-f]{2}(?!\\u[Dd][C-Fc-f])"
                                  rb"|(?<!\\u[Dd][89ABab][0-9A-Fa-f]{2})\\u[Dd][C-Fc-f][0-9A-Fa-f]{2}")


def json_refusal(body: bytes) -> HubError | None:
    """Return why a JSON body is refused (a control character or a lone surrogate, raw or escaped), or None."""
    if _has_any(body, _IN_JSON):
        return ControlCharacter("The body contains a control character.", where="body")
    if b"\\u" not in body:  # the common case: nothing escaped, nothing more to look at
        return None
    # Drop escaped backslashes first: JSON pairs a run of them from the left, as replace() does, so every
    # backslash left starts an escape and `\\u0000` (a backslash, then the text u0000) is not mistaken for one.
    escapes = body.replace(b"\\\\", b"")
    if _JSON_CONTROL.search(escapes):
        return ControlCharacter("The body contains an escaped control character.", where="body")
    if _JSON_LONE_SURROGATE.search(escapes):
        return InvalidUnicode("The body contains a lone UTF-16 surrogate escape.", where="body")
    return None


def form_refusal(body: bytes) -> HubError | None:
    """Return why a form body is refused (a control character, raw or percent-encoded), or None."""
    if _has_any(body, _C0_DEL) or (b"%" in body and _PERCENT_ENCODED.search(body)):
        return ControlCharacter("The form contains a control character.", where="body")
    return None


def head_refusal(scope: Scope) -> HubError | None:
    """Return why the request line or headers are refused, or None."""
    path, query = scope["path"], scope["query_string"]
    if not path.isprintable() and _PATH.search(path):  # isprintable: a quick yes for nearly every path
        return ControlCharacter("The path contains a control character.", where="path")
    if query and (_has_any(query, _C0_DEL) or (b"%" in query and _PERCENT_ENCODED.search(query))):
        return ControlCharacter("The query string contains a control character.", where="query")
    headers = scope["headers"]
    if _has_any(b"".join([value for _, value in headers]), _IN_HEADER):
        name = next(name for name, value in headers if _has_any(value, _IN_HEADER)).decode("latin-1")
        return ControlCharacter(f"The header {name} contains a control character.", where="header", header=name)
    return None


def _has_any(data: bytes, unwanted: bytes) -> bool:
    return len(data.translate(None, unwanted)) != len(data)


class RequestGuard:
    """Refuse a body over its limit (413) and control characters where none belong (422), in one pass.

    The limit is `max_bytes`, or the one `uploads` gives the path (a `*` stands for one path segment): a declared
    Content-Length over it is refused before anything else; a streamed body is counted as it arrives. Other
    bodies are read whole (they are small: the limit caps them) and handed on unchanged once checked; an
    upload's body is a file for its own reader, which meets the limit as it reads. A request without a body
    costs one look at its headers and request line.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.exact = {path: limit for path, limit in (uploads or {}).items() if "*" not in path}
        self.patterns = [(re.compile("^" + re.escape(path).replace(r"\*", "[^/]+") + "$"), limit)
                         for path, limit in (uploads or {}).items() if "*" in path]

    def _upload_limit(self, path: str) -> int | None:
        """Return the path's own limit if its body is an upload, else None."""
        limit = self.exact.get(path)
        if limit is None:
            limit = next((limit for pattern, limit in self.patterns if pattern.match(path)), None)
        return limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared, chunked, content_type = None, False, b""
        for name, value in scope["headers"]:  # the last of a repeated header counts, as dict() would have it
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        upload_limit = None if declared is None and not chunked else self._upload_limit(scope["path"])
        limit = self.max_bytes if upload_limit is None else upload_limit
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(scope, send, limit)
        refusal = head_refusal(scope)
        if refusal is not None:
            return await _refuse(scope, send, refusal)
        if (declared is None or declared == b"0") and not chunked:
            return await self.app(scope, receive, send)
        if upload_limit is not None:
            return await self.app(scope, _limited(receive, limit), send)
        try:
            messages = await _read_body(receive, limit)
        except HubError as error:
            return await _refuse(scope, send, error)
        body = messages[0].get("body", b"") if len(messages) == 1 else b"".join(m.get("body", b"") for m in messages)
        is_form = content_type.split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"
        refusal = form_refusal(body) if is_form else json_refusal(body)
        if refusal is not None:
            return await _refuse(scope, send, refusal)
        await self.app(scope, _replay(messages, body, receive), send)


def _limited(receive: Receive, limit: int) -> Receive:
    """Wrap receive so that a body growing past limit raises PayloadTooLarge where it is read."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        return message

    return limited


async def _read_body(receive: Receive, limit: int) -> list[Message]:
    """Read the whole body as the messages it came in, refusing it once it grows past limit."""
    messages, received = [], 0
    while True:
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], body: bytes, receive: Receive) -> Receive:
    """Hand the body on as one message (or as read, if the client left halfway), then the server's own receive."""
    if len(messages) > 1 and messages[-1]["type"] == "http.request":
        messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return messages.pop() if messages else await receive()

    return replayed if len(messages) == 1 else _in_order(messages, receive)


def _in_order(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    response = problem(413, "payload_too_large", "Request body too large",
                       f"The request body exceeds {limit} bytes.", scope.get("path", ""))
    await response({"type": "http"}, _no_body, send)


async def _refuse(scope: Scope, send: Send, error: HubError) -> None:
    instance = scope.get("raw_path", b"").decode("latin-1") or quote(scope["path"])
    response = problem(error.status, error.code, error.title, error.detail, instance, headers=error.headers,
                       **error.extra)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
