"""The API's documentation pages, Swagger UI at /docs and ReDoc at /redoc, with their scripts
served from the package (`static/`, see its README): they work with no internet, and under
the CSP of every page, our own origin only. Swagger UI's page starts it with an inline
script, allowed by its hash alone; ReDoc's also lets it start its search worker from a blob.
ReDoc's sidebar asks for Redocly's logo from their CDN: the policy stops that request
unsent, and ReDoc then shows no logo."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from bot.web.hardening import CONTENT_SECURITY_POLICY

STATIC = Path(__file__).parent / "static"
_ASSETS = "/static/docs"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
# ReDoc runs its search in a worker it makes from a blob of its own script.
_REDOC_POLICY = CONTENT_SECURITY_POLICY + "; worker-src 'self' blob:"


def add_documentation(app: FastAPI, *, openapi_url: str) -> None:
    """Serve /docs and /redoc (the app must be built with docs_url and redoc_url None)."""
    app.mount(_ASSETS, StaticFiles(directory=STATIC), name="documentation assets")
    title = f"{app.title} API"
    swagger = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{_ASSETS}/favicon.png",
        oauth2_redirect_url=None,
        # Its default would show a badge fetched from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    redoc = get_redoc_html(
        openapi_url=openapi_url,
        title=title,
        redoc_js_url=f"{_ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{_ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    swagger_policy = _allowing_inline_scripts(bytes(swagger.body))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger.body, headers={"Content-Security-Policy": swagger_policy})

    @app.get("/redoc", include_in_schema=False)
    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc.body, headers={"Content-Security-Policy": _REDOC_POLICY})


def _allowing_inline_scripts(page: bytes) -> str:
    """The CSP of every page, with script-src also allowing `page`'s inline scripts, each by
    its hash (no 'unsafe-inline')."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}")
