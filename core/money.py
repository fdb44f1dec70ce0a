"""Money: a Decimal amount with a currency, quantized to the currency's minor unit.

Never a float. Arithmetic refuses to mix currencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import DecimalField, Q, Value
from django.utils.translation import gettext as _

from core.exceptions import ApplicationError

# Minor units per ISO 4217 for the currencies we expect; anything else has 2.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "JOD": 3}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}


# The largest amount the money columns (``DecimalField(max_digits=12, decimal_places=2)``) hold.
AMOUNT_COLUMN_MAX = Decimal("9999999999.99")


# CHECK constraints between money columns. PostgreSQL's numeric adds exactly; SQLite (the embedded
# default) adds in binary floating point, where 93.99 + 4.99 is 98.97999..., never 98.98. Columns
# of whole cents that agree within a tenth of a cent are equal, so the invariant stays exact.
_CHECK_SLACK = Value(Decimal("0.001"), output_field=DecimalField(max_digits=4, decimal_places=3))


def check_equal(field: str, expression) -> Q:
    """``field`` equals ``expression`` (money columns added and taken away), for a CheckConstraint."""
    return Q(**{f"{field}__gte": expression - _CHECK_SLACK, f"{field}__lte": expression + _CHECK_SLACK})


def check_at_most(field: str, expression) -> Q:
    """``field`` is at most ``expression`` (money columns), for a CheckConstraint."""
    return Q(**{f"{field}__lte": expression + _CHECK_SLACK})


def check_at_least(field: str, expression) -> Q:
    """``field`` is at least ``expression`` (money columns, or a number: 0 for a balance kept by
    additions and subtractions)."""
    if isinstance(expression, int | Decimal):
        return Q(**{f"{field}__gte": Decimal(expression) - _CHECK_SLACK.value})
    return Q(**{f"{field}__gte": expression - _CHECK_SLACK})


class CurrencyMismatch(ValueError):
    pass


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def cumulative_share(amount: Decimal, *, done: int, more: int, of: int, currency: str) -> Decimal:
    """What ``more`` of ``of`` units are worth of ``amount`` once ``done`` units were counted: the
    cumulative share after them, rounded, less the cumulative share before. However a line is
    split (refunds, credit notes, the seller's ledger), the parts sum exactly to ``amount`` and
    every part of the same units is the same."""
    if of <= 0:
        return Decimal(0)
    after = Decimal(amount) if done + more >= of else quantize(Decimal(amount) * (done + more) / of, currency)
    before = quantize(Decimal(amount) * done / of, currency) if done else Decimal(0)
    return after - before


def quantize(amount: Decimal | int | str, currency: str) -> Decimal:
    if isinstance(amount, float):
        raise TypeError("Money amounts must not be floats")
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"Not a money amount: {amount!r}") from exc
    exp = Decimal(1).scaleb(-minor_units(currency))
    return value.quantize(exp, rounding=ROUND_HALF_UP)


def default_currency() -> str:
    return settings.SHOP_CURRENCY


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str | None = None) -> None:
        cur = (currency or default_currency()).upper()
        object.__setattr__(self, "currency", cur)
        object.__setattr__(self, "amount", quantize(amount, cur))

    @classmethod
    def zero(cls, currency: str | None = None) -> Money:
        return cls(0, currency)

    def _check(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} != {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._check(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._check(other).amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float | Money):
            raise TypeError("Multiply Money by an int or Decimal only")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._check(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._check(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._check(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._check(other).amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    def __str__(self) -> str:
        return format_money(self.amount, self.currency)


def format_money(amount: Decimal | int | str | None, currency: str | None = None) -> str:
    """Render an amount for people: ``$1,234.50``; unknown currencies get their code."""
    if amount is None or amount == "":
        return ""
    cur = (currency or default_currency()).upper()
    value = quantize(amount, cur)
    places = minor_units(cur)
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.{places}f}"
    symbol = _SYMBOLS.get(cur)
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {cur}"


def allocate(total: Decimal, weights: list[Decimal], currency: str | None = None) -> list[Decimal]:
    """Split ``total`` across ``weights`` so the parts sum exactly to it (largest remainder)."""
    cur = (currency or default_currency()).upper()
    total = quantize(total, cur)
    if not weights:
        return []
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        weights = [Decimal(1)] * len(weights)
        weight_sum = Decimal(len(weights))
    unit = Decimal(1).scaleb(-minor_units(cur))
    units_total = int(total / unit)
    raw = [Decimal(units_total) * w / weight_sum for w in weights]
    floors = [int(r) for r in raw]
    remainder = units_total - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - floors[i], -i), reverse=True)
    for i in order[: abs(remainder)]:
        floors[i] += 1 if remainder > 0 else -1
    return [Decimal(f) * unit for f in floors]


# --- prices people type --------------------------------------------------------------------


def max_price() -> Decimal:
    """The highest price anyone may set (``settings.MAX_PRICE``), never above what a column holds."""
    try:
        configured = Decimal(str(getattr(settings, "MAX_PRICE", AMOUNT_COLUMN_MAX)))
    except InvalidOperation:
        raise ImproperlyConfigured(f"MAX_PRICE is not an amount: {settings.MAX_PRICE!r}") from None
    if not configured.is_finite() or configured <= 0:
        raise ImproperlyConfigured(f"MAX_PRICE must be an amount above zero, not {settings.MAX_PRICE!r}")
    return min(configured, AMOUNT_COLUMN_MAX)


def price_problem(amount: object, *, allow_zero: bool = False) -> str | None:
    """Why ``amount`` is not an acceptable price, or None: a finite number (not a float), above
    zero (or zero when ``allow_zero``), at most :func:`max_price`."""
    if isinstance(amount, float | bool):
        return _("Enter a valid amount.")
    try:
        value = Decimal(str(amount).strip()) if isinstance(amount, str) else Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        return _("Enter a valid amount.")
    if not value.is_finite():
        return _("Enter a valid amount.")
    if value < 0 or (value == 0 and not allow_zero):
        return _("Must be zero or more.") if allow_zero else _("Must be above zero.")
    limit = max_price()
    if value > limit:
        return _("Must be at most %(max)s.") % {"max": format_money(limit)}
    return None


def validate_price(amount: object, *, field: str = "price", allow_zero: bool = False,
                   currency: str | None = None) -> Decimal:
    """A price a person typed, checked (see :func:`price_problem`) and quantized to the currency
    (so 0.001 is zero, refused unless ``allow_zero``). A bad one raises :class:`ApplicationError`
    naming ``field`` (a 400 in the API)."""
    problem = price_problem(amount, allow_zero=allow_zero)
    value = None
    if problem is None:
        value = quantize(amount.strip() if isinstance(amount, str) else amount, currency or default_currency())
        if value == 0 and not allow_zero:
            problem = _("Must be above zero.")
    if problem is None:
        return value
    label = field.replace("_", " ").capitalize()
    raise ApplicationError(
        _("%(field)s: %(problem)s") % {"field": label, "problem": problem[:1].lower() + problem[1:]},
        code="invalid_price", fields={field: [problem]},
    )


def clean_prices(values: dict[str, object]) -> None:
    """For a model's ``clean()`` (admin forms, services that ``full_clean``): a ValidationError by
    field for each of these prices that is not a number, negative or above :func:`max_price`.
    Empty values are left to the field's own validation, zero to the model's constraints."""
    errors = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        problem = price_problem(value, allow_zero=True)
        if problem is not None:
            errors[name] = [problem]
    if errors:
        raise ValidationError(errors)
