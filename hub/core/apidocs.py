"""GET /docs: Swagger UI served by the hub itself (vendored swagger-ui-dist, no CDN) under a strict CSP."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Scripts and styles from the hub only, no inline script; data: images are Swagger UI's CSS icons.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
<link rel="icon" href="/static/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}">
<noscript><p>This page needs JavaScript.
The API description itself is at <a href="{openapi_url}">{openapi_url}</a>.</p></noscript>
</div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/apidocs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve /static and the /docs page; the app must be built with docs_url=None (FastAPI's page uses a CDN)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    page = PAGE.format(title=escape(app.title), openapi_url=escape(app.openapi_url or "/openapi.json"))
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)
