"""`/docs`: Swagger UI over `/openapi.json`, from files on this machine, under the pages' Content-Security-Policy.

FastAPI's own `/docs` and `/redoc` load their scripts from a CDN and start them with an inline
script: offline they are blank, and the policy every page carries (`script-src 'self'`, console/)
refuses both anyway. This page is ours: Swagger UI's files come from the installed
`fastapi-offline` package (which ships the current swagger-ui dist; none of it is copied into this
repository), it is started by our own small script (`static/docs.js`), and everything is served
from this origin, each file by its own route.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["DOCS_FILES", "install_docs"]

_SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))
DOCS_FILES = {
    "swagger-ui.css": (_SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (_SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "docs.js": (Path(__file__).parent / "static" / "docs.js", "text/javascript; charset=utf-8"),
}
"""What `/docs/<name>` serves: the file and its media type."""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{root}/docs/swagger-ui-bundle.js"></script>
<script src="{root}/docs/docs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """`GET /docs` and the files it loads; build `app` with `docs_url=None, redoc_url=None`."""

    @app.get("/docs", include_in_schema=False)
    def docs_page(request: Request) -> HTMLResponse:
        root = html.escape(str(request.scope.get("root_path", "")))
        openapi = f"{root}{html.escape(app.openapi_url or '/openapi.json')}"
        return HTMLResponse(_PAGE.format(title=html.escape(f"{app.title} API"), root=root, openapi=openapi))

    for name, (path, media_type) in DOCS_FILES.items():
        _serve(app, name, path, media_type)


def _serve(app: FastAPI, name: str, path: Path, media_type: str) -> None:
    @app.get(f"/docs/{name}", include_in_schema=False, name=f"docs:{name}")
    def docs_file() -> FileResponse:
        return FileResponse(path, media_type=media_type)
