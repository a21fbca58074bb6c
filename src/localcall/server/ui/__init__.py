"""The playground at `/`: a page served from this package's static files (plain ES modules,
no build step, nothing fetched from elsewhere) and the few endpoints it needs beside /v1
(ui/api.py). `localcall serve --no-ui` leaves all of it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .api import router

if TYPE_CHECKING:
    from ..app import ServerSettings

STATIC = Path(__file__).parent / "static"
# The page loads only its own files; images of the benchmark plots come as blob: URLs.
_CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


@dataclass(frozen=True)
class UiSettings:
    bench_dir: Path | None = None  # `localcall bench` output to show (--bench-dir)
    # Principals (API key names) that may read the audit log from another machine; from
    # loopback any key may.
    admins: frozenset[str] = frozenset({"admin"})


def install_ui(app: FastAPI, settings: ServerSettings) -> None:
    """Serve the playground on `app` unless settings.ui is None."""
    if settings.ui is None:
        return
    app.state.server_settings = settings
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": _CSP,
                                                            "Cache-Control": "no-cache"})
