"""A contact a person gives (a phone number or an email address) as the channels store it.

Shared by the web form, the service's settings and the admin's blocklist, so that one
address typed three ways is one resident.
"""

from __future__ import annotations

import re

from channels.base import Address, ChannelName
from channels.phone import PhoneNumberError, e164

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,251}\.[A-Za-z]{2,}$")


class ContactError(ValueError):
    """Neither a valid phone number nor a valid email address; the message says which."""


def parse_contact(contact: str) -> Address:
    """A phone number (Indonesian by default) or an email address, in canonical form."""
    contact = contact.strip()
    if "@" in contact:
        if not _EMAIL.match(contact):
            raise ContactError("contact: not a valid email address")
        local, _, domain = contact.rpartition("@")
        return Address(ChannelName.EMAIL, f"{local}@{domain.lower()}")
    try:
        return Address(ChannelName.SMS, e164(contact))
    except PhoneNumberError as exc:
        if exc.recognised:
            raise ContactError("contact: this phone number is not valid") from None
        raise ContactError(
            "contact: give a phone number (e.g. 0812 3456 7890) or an email address"
        ) from None
