"""One error base class and one handler: every failure leaves as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from hub.core.routes import allowed_methods

PROBLEM_BASE = "urn:hub:problem:"
DEFAULT_RETRY_AFTER = 60  # seconds, for a 429 whose limiter could not say
log = logging.getLogger("hub.errors")


class HubError(Exception):
    """A failure the caller can understand; subclasses set status, code and title."""

    status: int = 500
    code: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @property
    def headers(self) -> dict[str, str] | None:
        """Response headers the failure calls for (e.g. Retry-After)."""
        return None


class BadRequest(HubError):
    status, code, title = 400, "bad_request", "Bad request"


class ValidationFailed(HubError):
    status, code, title = 422, "validation_error", "The request is not valid"


class Unauthorized(HubError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(HubError):
    status, code, title = 403, "forbidden", "Not allowed"


class InsufficientScope(HubError):
    status, code, title = 403, "insufficient_scope", "The token lacks the required scope"


class NotFound(HubError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(HubError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(HubError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(HubError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class BadGateway(HubError):
    status, code, title = 502, "source_unavailable", "The department's system did not answer properly"


class GatewayTimeout(HubError):
    status, code, title = 504, "source_timeout", "The department's system did not answer in time"


class ControlCharacter(HubError):
    """A control character (NUL above all) where none belongs; `where` names the part of the request."""

    status, code, title = 422, "control_character", "Control characters are not accepted"


class InvalidUnicode(HubError):
    status, code, title = 422, "invalid_unicode", "The text is not valid Unicode"


class TooManyRequests(HubError):
    """Over a rate limit; the answer says when to retry (RFC 9110 §10.2.3 Retry-After, in seconds)."""

    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = DEFAULT_RETRY_AFTER, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def problem(status: int, code: str, title: str, detail: str, instance: str, *,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """Build an RFC 9457 problem response (§3: type, title, status, detail, instance).

    A 401 carries a Bearer challenge unless `headers` gives another; every 429 carries Retry-After.
    """
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail, "instance": instance}
    body.update(extra)
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="hub"')
    elif status == 429:
        headers.setdefault("Retry-After", str(DEFAULT_RETRY_AFTER))
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers or None)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited",
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Map HubError, validation errors, HTTP errors and anything unexpected to problem+json."""

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.title, exc.detail, request.url.path, headers=exc.headers,
                       **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "validation_error", "The request is not valid", "One or more fields are invalid.",
                       request.url.path, errors=_validation_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = problem(exc.status_code, code, code.replace("_", " ").capitalize(), str(exc.detail),
                           request.url.path)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Starlette's Allow names one route's methods; list every route's on the path
            response.headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope["path"]))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "Internal error", "An unexpected error occurred.", request.url.path)
