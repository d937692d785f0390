"""The two servers `bench.webhook` runs beside the service, each in its own process:

    python -m bench.webhook_servers floor --port PORT --database-url URL [--database-schema S]
                                          --rows FILE --per-transaction N
                                          --auth-token TOKEN --public-url URL
    python -m bench.webhook_servers twilio --port PORT

- **floor**: the work no SMS webhook can skip, and nothing else. At the SMS webhook's path
  it parses the form, checks the `X-Twilio-Signature` with twilio's `RequestValidator` for
  the public address (as the SMS channel does: 403 when it does not hold), writes the rows
  intake writes for that message (the intake floor's rows, planned beforehand by
  `bench.webhook` and looked up by MessageSid) with bare Core statements (`bench.floor.write`),
  and answers the same empty TwiML once they are committed. Webhooks that arrive while a
  transaction runs share the next one, at most `--per-transaction` (our group commit's
  most): the best any server can do that answers only what it has committed.
- **twilio**: a stand-in for Twilio's REST API that accepts every message the service
  sends (the acknowledgements) with a minimal message resource, so the service's outbox
  dispatcher works as it does in production without reaching the internet.

Both are served by uvicorn with the options and logging `aduan run` uses (bot/cli/server.py,
bot/cli/log_setup.py), so the floor differs from the service only in what the app does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import pickle
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from bench import floor
from bot.cli.log_setup import configure_logging
from storage.engine import make_engine

SMS_PATH = "/webhooks/twilio/sms"
STATS_PATH = "/bench/stats"
# The SMS channel's answer (channels/sms.py): residents are answered through the outbox.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass(frozen=True, slots=True)
class FloorOptions:
    """What the floor server needs: its database, the rows to write, and Twilio's secret."""

    database_url: str
    database_schema: str | None
    rows: Path
    per_transaction: int
    auth_token: str
    public_url: str


class GroupWriter:
    """Writes each webhook's rows, those handed in while a transaction runs sharing the next
    one (at most `per_transaction`); each caller returns once its rows are committed."""

    def __init__(self, engine: AsyncEngine, per_transaction: int) -> None:
        self._engine = engine
        self._per_transaction = per_transaction
        self._ids: dict[tuple[str, int], int] = {}
        self._queue: list[tuple[floor.Writes, asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.webhooks = 0
        self.transactions = 0

    async def commit(self, writes: floor.Writes) -> None:
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((writes, answer))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="floor-writer")
        await answer

    async def _run(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._per_transaction]
                del self._queue[: self._per_transaction]
                try:
                    async with self._engine.begin() as connection:
                        await floor.write(connection, [writes for writes, _ in batch], self._ids)
                except Exception as exc:  # each caller answers 500 with it
                    for _, answer in batch:
                        answer.set_exception(exc)
                    continue
                self.transactions += 1
                self.webhooks += len(batch)
                for _, answer in batch:
                    answer.set_result(None)
        finally:
            self._runner = None


def floor_app(options: FloorOptions) -> FastAPI:
    with options.rows.open("rb") as file:
        rows: dict[str, floor.Writes] = pickle.load(file)
    validator = RequestValidator(options.auth_token)
    engine = make_engine(options.database_url, schema=options.database_schema)
    writer = GroupWriter(engine, options.per_transaction)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post(SMS_PATH)
    async def sms(request: Request) -> Response:
        form = await request.form()
        params = {key: str(value) for key, value in form.items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        query = f"?{request.url.query}" if request.url.query else ""
        url = options.public_url + request.url.path + query
        if not (signature and validator.validate(url, params, signature)):
            return JSONResponse({"detail": "invalid X-Twilio-Signature"}, status_code=403)
        writes = rows.get(params.get("MessageSid", ""))
        if writes is None:
            return JSONResponse({"detail": "MessageSid: not planned"}, status_code=400)
        await writer.commit(writes)
        return Response(EMPTY_TWIML, media_type="text/xml")

    @app.get(STATS_PATH)
    async def stats() -> dict[str, int]:
        return {"webhooks": writer.webhooks, "transactions": writer.transactions}

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
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_servers")
    parser.add_argument("server", choices=["floor", "twilio"])
    parser.add_argument("--port", type=int, required=True)
    floor_options = parser.add_argument_group("floor")
    floor_options.add_argument("--database-url")
    floor_options.add_argument("--database-schema")
    floor_options.add_argument("--rows", type=Path, help="the planned rows, by MessageSid")
    floor_options.add_argument("--per-transaction", type=int, default=1)
    floor_options.add_argument("--auth-token")
    floor_options.add_argument("--public-url")
    args = parser.parse_args(argv)
    if args.server == "twilio":
        serve(twilio_app(), args.port)
        return
    missing = [
        option
        for option in ("database_url", "rows", "auth_token", "public_url")
        if getattr(args, option) is None
    ]
    if missing:
        parser.error("floor needs " + ", ".join(f"--{m.replace('_', '-')}" for m in missing))
    options = FloorOptions(
        database_url=args.database_url,
        database_schema=args.database_schema,
        rows=args.rows,
        per_transaction=args.per_transaction,
        auth_token=args.auth_token,
        public_url=args.public_url.rstrip("/"),
    )
    serve(floor_app(options), args.port)


if __name__ == "__main__":
    main()
