"""Phone numbers as the channels store them: E.164, Indonesian by default."""

from __future__ import annotations

import phonenumbers


class PhoneNumberError(ValueError):
    """Not a phone number (`recognised` False), or one that cannot exist (True)."""

    def __init__(self, number: str, *, recognised: bool) -> None:
        super().__init__(
            f"{number!r} is not a valid phone number"
            if recognised
            else f"{number!r} is not a phone number"
        )
        self.recognised = recognised


def e164(number: str, region: str = "ID") -> str:
    """'0812 3456 7890' → '+6281234567890'."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        raise PhoneNumberError(number, recognised=False) from None
    if not phonenumbers.is_valid_number(parsed):
        raise PhoneNumberError(number, recognised=True)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
