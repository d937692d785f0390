"""Masking of residents' contact details for places that need to show who, but not how to reach."""

from __future__ import annotations

from storage.models import ANONYMOUS_PREFIX


def mask_contact(address: str) -> str:
    """'+6281234567890' → '+62812•••••890', 'budi@mail.id' → 'b•••@mail.id'."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    if address.startswith(ANONYMOUS_PREFIX):
        return "anonim"
    if len(address) <= 6:
        return "•" * len(address)
    return address[:6] + "•" * (len(address) - 9) + address[-3:]
