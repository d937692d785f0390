"""What a failed HTTP request to a provider tells us: whether it can have reached it.

A request that never left (no connection: refused, no route, no such host, timed out while
connecting or waiting for a pooled connection) cannot have been acted on, and is safe to
send again. One that left and got no answer (a read timeout, a connection broken after
sending) may have been: its outcome is unknown.
"""

from __future__ import annotations

import aiohttp
import httpx

from channels.base import DeliveryUnknown, SendError, TransientSendError

_NEVER_SENT = (
    # httpx (python-telegram-bot's client)
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    # aiohttp (Twilio's); its connect timeout covers the wait for a pooled connection
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)


def send_failure(provider: str, error: Exception) -> SendError:
    """The send error an HTTP failure of a request to `provider` amounts to."""
    said = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, _NEVER_SENT):
        return TransientSendError(f"{provider} unreachable ({said})")
    return DeliveryUnknown(f"{provider} took the request and did not answer ({said})")
