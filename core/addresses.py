"""How an address is written: the lines of a label or a page, in the order its country uses.
Addresses are kept as mappings on orders and as rows in the address book; both are written here."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# Countries shoppers ship to most; ISO 3166-1 alpha-2 codes. Extend the list as the shop grows.
COUNTRIES = [
    ("AR", _("Argentina")),
    ("AT", _("Austria")),
    ("AU", _("Australia")),
    ("BE", _("Belgium")),
    ("BR", _("Brazil")),
    ("CA", _("Canada")),
    ("CH", _("Switzerland")),
    ("CN", _("China")),
    ("CZ", _("Czechia")),
    ("DE", _("Germany")),
    ("DK", _("Denmark")),
    ("ES", _("Spain")),
    ("FI", _("Finland")),
    ("FR", _("France")),
    ("GB", _("United Kingdom")),
    ("GR", _("Greece")),
    ("IE", _("Ireland")),
    ("IN", _("India")),
    ("IT", _("Italy")),
    ("JP", _("Japan")),
    ("KR", _("South Korea")),
    ("MX", _("Mexico")),
    ("NL", _("Netherlands")),
    ("NO", _("Norway")),
    ("NZ", _("New Zealand")),
    ("PL", _("Poland")),
    ("PT", _("Portugal")),
    ("SE", _("Sweden")),
    ("SG", _("Singapore")),
    ("US", _("United States")),
    ("ZA", _("South Africa")),
]

# Where the postal code goes on the city line: after "City, Region" in North America and
# Australia, on a line of its own in the UK and Ireland, before the city elsewhere (most of Europe).
_CODE_AFTER_CITY = frozenset({"US", "CA", "AU"})
_CODE_ON_ITS_OWN_LINE = frozenset({"GB", "IE"})


_NAMES = dict(COUNTRIES)


def address_lines(address, *, country_name: str = "") -> list[str]:
    """An address (a mapping, as orders keep it, or an object with the same attributes) as it is
    written in its country, one line per entry, empty parts left out."""
    def part(name: str) -> str:
        value = address.get(name) if hasattr(address, "get") else getattr(address, name, "")
        return str(value or "").strip()

    country = part("country").upper()
    city, region, code = part("city"), part("region"), part("postal_code")
    if country in _CODE_AFTER_CITY:
        places = [" ".join(p for p in (", ".join(p for p in (city, region) if p), code) if p)]
    elif country in _CODE_ON_ITS_OWN_LINE:
        places = [", ".join(p for p in (city, region) if p), code]
    else:
        places = [" ".join(p for p in (code, city) if p), region]
    name = country_name or str(_NAMES.get(country, country))
    return [p for p in (part("full_name"), part("company"), part("line1"), part("line2"), *places, name) if p]
