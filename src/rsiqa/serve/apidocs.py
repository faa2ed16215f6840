"""The REST API's Swagger UI at ``/docs``, served from the installed ``swagger-ui-bundle-v2`` package.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it stays blank on a machine without
network access. Here the page and its assets (``/docs/assets/...``) come from this server.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the Swagger UI files are served (only the three the page needs are linked).
ASSETS = "/docs/assets"


def install_docs(app: FastAPI, path: str = "/docs") -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``path``, with no request leaving the server.

    Create ``app`` with ``docs_url=None`` (FastAPI's CDN page) and call this before mounting
    anything at ``/``.
    """
    from swagger_ui_bundle import swagger_ui_path

    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} - REST API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")

    app.add_api_route(path, docs, methods=["GET"], include_in_schema=False)
