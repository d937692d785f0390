"""An SMTP server in a process of its own that tells its parent whom each mail was for.

    python -m bench.smtp_counter

It prints the port it listens on (127.0.0.1, chosen by the OS), then one line per mail
accepted: the envelope's recipients, separated by spaces. It parses nothing: a sink that
read every mail in the benchmark's own process would take the service's event loop for
work that a real mail server does elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Printer:
    async def handle_DATA(  # noqa: N802  (aiosmtpd's handler interface)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        sys.stdout.write(" ".join(envelope.rcpt_tos) + "\n")
        sys.stdout.flush()
        return "250 OK"


async def serve() -> None:
    loop = asyncio.get_running_loop()
    handler = _Printer()
    server = await loop.create_server(lambda: SMTP(handler, loop=loop), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


@dataclass
class CountingSink:
    """The parent's view: when the first mail to each recipient arrived (monotonic)."""

    port: int
    arrived: dict[str, float] = field(default_factory=dict)
    mails: int = 0
    _news: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, predicate: str) -> int:
        """Recipients that got mail and whose address contains `predicate`."""
        return sum(predicate in address for address in self.arrived)

    async def wait_for(self, address: str, *, seconds: float) -> float:
        """When the first mail to `address` arrived, waiting up to `seconds` for it."""
        async with asyncio.timeout(seconds):
            while address not in self.arrived:
                self._news.clear()
                await self._news.wait()
        return self.arrived[address]

    async def _listen(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            now = time.monotonic()
            self.mails += 1
            for address in line.decode().split():
                self.arrived.setdefault(address, now)
            self._news.set()


@contextlib.asynccontextmanager
async def counting_sink() -> AsyncIterator[CountingSink]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.smtp_counter", stdout=asyncio.subprocess.PIPE
    )
    stdout = process.stdout
    if stdout is None:
        raise RuntimeError("the SMTP counter's output could not be read")
    listener: asyncio.Task[None] | None = None
    try:
        first = await asyncio.wait_for(stdout.readline(), 30)
        if not first.strip().isdigit():
            raise RuntimeError(f"the SMTP counter did not start: {first!r}")
        sink = CountingSink(port=int(first))
        listener = asyncio.create_task(sink._listen(stdout))
        yield sink
    finally:
        process.terminate()
        await process.wait()
        if listener is not None:
            await asyncio.gather(listener, return_exceptions=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
