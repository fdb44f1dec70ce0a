from decimal import Decimal

import pytest

from core.money import CurrencyMismatch, Money, allocate, format_money, quantize


def test_amounts_are_quantized_half_up_to_the_minor_unit():
    assert Money("10.005", "USD").amount == Decimal("10.01")
    assert Money("10.004", "USD").amount == Decimal("10.00")
    assert Money("100.5", "JPY").amount == Decimal("101")
    assert quantize("1.2345", "KWD") == Decimal("1.235")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        Money(0.1, "USD")
    with pytest.raises(TypeError):
        Money("1.00", "USD") * 1.5


def test_mixed_currencies_are_refused():
    with pytest.raises(CurrencyMismatch):
        Money("1", "USD") + Money("1", "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money("1", "USD") < Money("2", "EUR")


def test_arithmetic_and_formatting():
    total = Money("19.99", "USD") * 3 + Money("5", "USD")
    assert total == Money("64.97", "USD")
    assert str(total) == "$64.97"
    assert format_money(Decimal("-1234.5"), "EUR") == "-€1,234.50"
    assert format_money("12", "CHF") == "12.00 CHF"
    assert format_money(None) == ""


def test_not_a_number_is_a_value_error():
    with pytest.raises(ValueError, match="Not a money amount"):
        Money("abc", "USD")


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        ("10.00", ["1", "1", "1"]),
        ("0.01", ["1", "1", "1"]),
        ("100.00", ["33.33", "33.33", "33.34"]),
        ("7.77", ["0.5", "12.25", "3", "9.99"]),
        ("5.00", ["0", "0"]),
        ("-3.00", ["1", "2"]),
    ],
)
def test_allocate_parts_always_sum_to_the_whole(total, weights):
    parts = allocate(Decimal(total), [Decimal(w) for w in weights], "USD")
    assert sum(parts) == Decimal(total)
    assert len(parts) == len(weights)
    assert all(p == p.quantize(Decimal("0.01")) for p in parts)


def test_allocate_is_proportional():
    assert allocate(Decimal("10.00"), [Decimal(1), Decimal(3)], "USD") == [Decimal("2.50"), Decimal("7.50")]
