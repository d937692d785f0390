"""`aduan run`: web, outbox dispatcher and scheduler in one process, stopped cleanly by SIGTERM."""

from __future__ import annotations

import signal

import uvicorn

from bot.bootstrap import Service


async def serve(service: Service) -> None:
    """Serve until SIGTERM or SIGINT: stop accepting, finish requests and sends, return."""
    settings = service.settings
    config = uvicorn.Config(
        service.app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=20,
        proxy_headers=True,
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the stop signal to the previous handler once it has shut down;
    # with the default handler that would kill us (exit 143) after a clean stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        await server.serve()
    finally:
        await service.aclose()
    if not server.started:
        raise SystemExit(f"could not start the web server on {settings.host}:{settings.port}")
