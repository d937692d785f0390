"""Masking of residents' contact details for places that need to show who, but not how to reach."""

from __future__ import annotations

# A resident who left no contact is stored under a made-up address with this prefix.
ANONYMOUS_PREFIX = "anon:"


def is_anonymous(address: str) -> bool:
    return address.startswith(ANONYMOUS_PREFIX)


def mask_contact(address: str) -> str:
    """'+6281234567890' → '+62812•••••890', 'budi@mail.id' → 'b•••@mail.id'."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    if is_anonymous(address):
        return "anonim"
    if len(address) <= 6:
        return "•" * len(address)
    return address[:6] + "•" * (len(address) - 9) + address[-3:]
