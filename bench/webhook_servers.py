"""The two servers `bench.webhook` runs beside the service, each in its own process:

    python -m bench.webhook_servers floor|twilio --port PORT

- **floor**: a bare FastAPI endpoint at the SMS webhook's path that parses the form body as
  the SMS channel does and answers the same empty TwiML: what any webhook must cost.
- **twilio**: a stand-in for Twilio's REST API that accepts every message the service
  sends (the acknowledgements) with a minimal message resource, so the service's outbox
  dispatcher works as it does in production without reaching the internet.

Both are served by uvicorn with the options and logging `aduan run` uses (bot/cli/server.py,
bot/cli/log_setup.py), so the floor differs from the service only in what the app does.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bot.cli.log_setup import configure_logging

# The SMS channel's answer (channels/sms.py): residents are answered through the outbox.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def floor_app() -> FastAPI:
    app = FastAPI()

    @app.post("/webhooks/twilio/sms")
    async def sms(request: Request) -> Response:
        form = await request.form()
        params = {key: str(value) for key, value in form.items()}
        status = 200 if params.get("MessageSid") else 400
        return Response(EMPTY_TWIML, status_code=status, media_type="text/xml")

    return app


def twilio_app() -> FastAPI:
    app = FastAPI()
    sids = itertools.count(1)

    @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        form = await request.form()
        resource: dict[str, Any] = {
            "account_sid": account_sid,
            "sid": f"SM{next(sids):032x}",
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "num_segments": "1",
        }
        return JSONResponse(resource, status_code=201)

    return app


def serve(app: FastAPI, port: int) -> None:
    """Serve on loopback as `aduan run` serves the service, until SIGTERM."""
    configure_logging("INFO", "json")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_servers")
    parser.add_argument("server", choices=["floor", "twilio"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(floor_app() if args.server == "floor" else twilio_app(), args.port)


if __name__ == "__main__":
    main()
