"""Posting the web form as a browser does: the form's page first (its cookie and token)."""

from __future__ import annotations

import re

import httpx

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def post_form(
    client: httpx.AsyncClient, data: dict[str, str], path: str = "/filed"
) -> httpx.Response:
    """`data` posted from the form page at /, with the token that page carries."""
    page = await client.get("/")
    token = _TOKEN.search(page.text)
    return await client.post(path, data={**data, **({"csrf_token": token[1]} if token else {})})
