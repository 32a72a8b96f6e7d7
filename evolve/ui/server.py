"""``evolve ui``: a Starlette app serving the web UI over a read-only database.

Routes: the page (``/``), its own static files (``/static``), plotly.js from the installed
``plotly`` package (``/vendor/plotly.min.js``; nothing comes from a CDN), the JSON API
(``/api/runs``, ``/api/runs/{run}/view``, ``/api/programs/{id}``) and ``/api/events``, a
server-sent-event stream that polls the database and says when it changed, so the page
refreshes live while a run writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from evolve.errors import UserError
from evolve.store.reader import Reader
from evolve.ui import queries

STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """The plotly.js bundle that ships inside the ``plotly`` Python package."""
    try:
        import plotly
    except ImportError:
        raise UserError("the UI needs the plotly package: pip install plotly") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise UserError(f"plotly.js is missing from the plotly package ({path}): reinstall plotly")
    return path


class Views:
    """Run views, cached until the database changes (``Reader.version``); one computation
    at a time per run, so a request arriving during the start-up prefetch waits for it."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, run_prefix: str) -> dict[str, Any]:
        run_id = self.reader.run(run_prefix).id
        with self._guard:
            lock = self._locks.setdefault(run_id, threading.Lock())
        with lock:
            version = self.reader.version()  # before the queries: a change meanwhile refreshes
            cached = self._cache.get(run_id)
            if cached is not None and cached[0] == version:
                return cached[1]
            payload = queries.view_payload(self.reader, run_id)
            self._cache[run_id] = (version, payload)
            return payload

    def prefetch_latest(self) -> None:
        """Compute the latest run's view (the page's first view) in the background."""

        def work() -> None:
            with contextlib.suppress(UserError):
                self.get(self.reader.run(None).id)

        threading.Thread(target=work, name="evolve-ui-prefetch", daemon=True).start()


def create_app(reader: Reader, poll_seconds: float = 0.5) -> Starlette:
    """The UI's app over ``reader`` (which it never writes through)."""
    vendor = plotly_js()
    views = Views(reader)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        views.prefetch_latest()
        yield

    def api(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                data = await anyio.to_thread.run_sync(fn, request)
            except UserError as exc:
                return JSONResponse({"error": str(exc)}, status_code=404)
            return Response(json.dumps(data, allow_nan=False), media_type="application/json")

        return endpoint

    async def index(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def plotly(_request: Request) -> Response:
        return FileResponse(vendor, headers={"Cache-Control": "public, max-age=86400"})

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            last = None
            quiet = 0.0
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                version = await anyio.to_thread.run_sync(reader.version)
                if version != last:
                    last = version
                    yield f"event: change\ndata: {json.dumps(list(version))}\n\n"
                    quiet = 0.0
                elif quiet >= 15.0:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                await asyncio.sleep(poll_seconds)
                quiet += poll_seconds

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    routes = [
        Route("/", index),
        Route("/vendor/plotly.min.js", plotly),
        Route("/api/runs", api(lambda _r: queries.runs_payload(reader))),
        Route(
            "/api/runs/{run_id}/view",
            api(lambda r: views.get(r.path_params["run_id"])),
        ),
        Route(
            "/api/programs/{program_id}",
            api(lambda r: queries.program_payload(reader, r.path_params["program_id"])),
        ),
        Route("/api/events", events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=2048)],
        lifespan=lifespan,
    )


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port} ({exc.strerror}): give another --port"
            ) from None


def serve(db: str | None, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the UI until interrupted."""
    import uvicorn

    reader = Reader.open(db)
    app = create_app(reader)
    _check_port(host, port)
    print(f"evolve ui: http://{host}:{port}/  (database {reader.url}, read-only)", file=sys.stderr)
    sys.stderr.flush()
    # Open event streams (browser tabs) must not hold up Ctrl-C: give them a second.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
