"""What a deliverable address looks like: a country the shop lists, the postal code's shape in the
countries whose shape is well known, and a phone number a courier can dial. The address book, checkout's pages and the
checkout API all ask here, so an address one of them takes is one the others take too."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from core.addresses import COUNTRIES

_COUNTRY_CODES = frozenset(code for code, _name in COUNTRIES)

# Countries whose postal code has one fixed shape (upper case; a space where people write one).
POSTAL_CODE_SHAPES: dict[str, tuple[str, str]] = {
    "US": (r"\d{5}(-\d{4})?", "12345 or 12345-6789"),
    "CA": (r"[A-Z]\d[A-Z] ?\d[A-Z]\d", "K1A 0B1"),
    "GB": (r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "SW1A 1AA"),
    "DE": (r"\d{5}", "10115"),
    "FR": (r"\d{5}", "75001"),
    "ES": (r"\d{5}", "28001"),
    "IT": (r"\d{5}", "00118"),
    "NL": (r"\d{4} ?[A-Z]{2}", "1012 AB"),
    "AU": (r"\d{4}", "2000"),
    "JP": (r"\d{3}-?\d{4}", "100-0005"),
}
_ANY_POSTAL_CODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{1,9}")
_PHONE = re.compile(r"\+?[0-9 ().-]+")


def address_problems(*, country: str, postal_code: str, phone: str = "") -> dict[str, str]:
    """Field -> what is wrong with it, for the fields whose shape can be checked; empty when fine.
    Empty values are the caller's to require or not."""
    problems = {}
    if (country or "").strip().upper() not in _COUNTRY_CODES:  # the countries every address form offers
        problems["country"] = _("We do not deliver to this country code; choose one from the list.")
    code = (postal_code or "").strip().upper()
    if code:
        shape = POSTAL_CODE_SHAPES.get((country or "").strip().upper())
        if shape and not re.fullmatch(shape[0], code):
            problems["postal_code"] = _("Not a postal code of this country (for example %(example)s).") % {
                "example": shape[1]}
        elif not shape and not _ANY_POSTAL_CODE.fullmatch(code):
            problems["postal_code"] = _("A postal code has 2 to 10 letters, digits, spaces or hyphens.")
    number = (phone or "").strip()
    if number and (not _PHONE.fullmatch(number) or not 6 <= sum(c.isdigit() for c in number) <= 15):
        problems["phone"] = _("Enter a phone number: 6 to 15 digits, with +, spaces, dots, hyphens or brackets.")
    return problems

