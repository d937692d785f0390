"""`aduan run`: web, outbox dispatcher and scheduler in one process, stopped cleanly by SIGTERM.

The service (channels, dispatcher, scheduler) starts before the web server listens and
stops after it has finished its requests, here rather than in the app's lifespan: a
channel that cannot start is one line and a non-zero exit, not a traceback from uvicorn.
"""

from __future__ import annotations

import signal

import uvicorn

from bot.bootstrap import Service
from channels.base import ChannelStartError


async def serve(service: Service) -> None:
    """Serve until SIGTERM or SIGINT: stop accepting, finish requests and sends, return."""
    settings = service.settings
    config = uvicorn.Config(
        service.app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=20,
        # X-Forwarded-For is read by the app, and only from ADUAN_TRUSTED_PROXIES
        # (bot.web.hardening.client_ip); uvicorn's own reading trusts 127.0.0.1 by default,
        # which let any client on the host pose as many.
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the stop signal to the previous handler once it has shut down;
    # with the default handler that would kill us (exit 143) after a clean stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        async with service.running():
            await server.serve()
    except ChannelStartError as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        await service.aclose()
    if not server.started:
        raise SystemExit(f"could not start the web server on {settings.host}:{settings.port}")
