"""Vouchers: check a code against a cart, redeem it inside place_order's transaction.

Promotions sits below checkout (DESIGN.md), so it never imports checkout: checkout's pricing
pipeline calls ``discounts_for`` with plain ``PromoLine`` values and turns the answer into its
own discount lines; ``place_order`` calls ``voucher_redeem`` in its reserve+create transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core.exceptions import ApplicationError
from core.money import Money, allocate, format_money
from promotions import engine
from promotions.models import Promotion, Voucher, VoucherRedemption

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class VoucherRefused(ApplicationError):
    code = "voucher"


@dataclass(frozen=True)
class PromoLine:
    """One cart line as promotions sees it; ``amount`` is what is left to discount on it."""

    product_id: int
    seller_id: int
    amount: Money
    quantity: int = 1


@dataclass(frozen=True)
class AppliedDiscount:
    code: str
    label: str
    amount: Money
    per_line: dict[int, Money]  # index into the lines passed in -> part (parts sum to amount)
    promotion_id: int | None = None  # set for an automatic promotion; None for the voucher
    free_shipping_line_indexes: tuple[int, ...] = ()  # lines whose packages ship free


@dataclass(frozen=True)
class VoucherResult:
    voucher_id: int
    code: str
    label: str
    amount: Money
    per_line: dict[int, Money]


def normalize_code(code: object) -> str:
    return str(code or "").strip().upper()


def _unknown() -> VoucherRefused:
    return VoucherRefused(_("This code is not valid. Check it and try again."), code="voucher_unknown")


def _voucher_get(code: object, *, lock: bool = False) -> Voucher:
    normalized = normalize_code(code)
    if not CODE_PATTERN.match(normalized):
        raise _unknown()
    qs = Voucher.objects.select_for_update() if lock else Voucher.objects
    voucher = qs.filter(code=normalized).first()
    if voucher is None:
        raise _unknown()
    return voucher


def _check_dates_and_state(voucher: Voucher) -> None:
    if not voucher.active:
        raise VoucherRefused(_("This code is no longer active."), code="voucher_inactive")
    now = timezone.now()
    if voucher.starts_at and now < voucher.starts_at:
        raise VoucherRefused(_("This code is not valid yet."), code="voucher_not_started")
    if voucher.ends_at and now >= voucher.ends_at:
        raise VoucherRefused(_("This code has expired."), code="voucher_expired")


def _total_limit_error() -> VoucherRefused:
    return VoucherRefused(_("This code has already been used the maximum number of times."),
                          code="voucher_limit_used")


def _check_customer_limit(voucher: Voucher, *, user, email: str) -> None:
    if voucher.max_uses_per_customer is None:
        return
    who = Q()
    if getattr(user, "is_authenticated", False):
        who |= Q(user_id=user.pk)
    if email:
        who |= Q(email__iexact=email.strip())
    if not who:
        return
    if voucher.redemptions.filter(who).count() >= voucher.max_uses_per_customer:
        raise VoucherRefused(_("You have already used this code as many times as allowed."),
                             code="voucher_customer_limit_used")


def _qualifying(voucher: Voucher, lines: Sequence[PromoLine]) -> list[int]:
    categories = set(voucher.categories.values_list("pk", flat=True))
    brands = set(voucher.brands.values_list("pk", flat=True))
    sellers = set(voucher.sellers.values_list("pk", flat=True))
    products = set(voucher.products.values_list("pk", flat=True))
    if not (categories or brands or sellers or products):
        return list(range(len(lines)))
    if categories:
        tree = catalog_selectors.category_tree()
        categories = {d for pk in categories if pk in tree.nodes for d in tree.descendant_ids(pk)}
    info = catalog_selectors.products_by_ids(ids=[line.product_id for line in lines]) if categories or brands else {}
    indexes = []
    for index, line in enumerate(lines):
        product = info.get(line.product_id)
        if (
            line.product_id in products
            or line.seller_id in sellers
            or (product is not None and (product.category_id in categories or product.brand_id in brands))
        ):
            indexes.append(index)
    return indexes


def _percent(value: Decimal) -> str:
    return f"{value:f}".rstrip("0").rstrip(".") if "." in f"{value:f}" else f"{value:f}"


def _describe(voucher: Voucher, currency: str) -> str:
    if voucher.label:
        return _("Code %(code)s: %(label)s") % {"code": voucher.code, "label": voucher.label}
    if voucher.kind == Voucher.Kind.PERCENT:
        return _("Code %(code)s: %(value)s%% off") % {"code": voucher.code, "value": _percent(voucher.value)}
    return _("Code %(code)s: %(amount)s off") % {"code": voucher.code,
                                                "amount": format_money(voucher.value, currency)}


def voucher_check(*, code: object, lines: Sequence[PromoLine], user=None, email: str = "") -> VoucherResult:
    """The voucher's discount on these lines, split over the qualifying ones, or VoucherRefused
    with the reason a shopper can act on."""
    voucher = _voucher_get(code)
    _check_dates_and_state(voucher)
    if voucher.max_uses is not None and voucher.times_used >= voucher.max_uses:
        raise _total_limit_error()
    _check_customer_limit(voucher, user=user, email=email)
    if not lines:
        raise VoucherRefused(_("This code is not valid for the items in your cart."), code="voucher_not_applicable")
    currency = lines[0].amount.currency
    indexes = _qualifying(voucher, lines)
    if not indexes:
        raise VoucherRefused(_("This code is not valid for the items in your cart."), code="voucher_not_applicable")
    base = sum((lines[i].amount for i in indexes), Money.zero(currency))
    minimum = Money(voucher.minimum_spend, currency)
    if base < minimum:
        raise VoucherRefused(
            _("Spend %(amount)s more to use this code.") % {"amount": minimum - base}, code="voucher_minimum_spend"
        )
    if voucher.kind == Voucher.Kind.PERCENT:
        amount = Money(base.amount * voucher.value / Decimal(100), currency)
    else:
        amount = Money(min(voucher.value, base.amount), currency)
    parts = allocate(amount.amount, [lines[i].amount.amount for i in indexes], currency)
    per_line = {i: Money(p, currency) for i, p in zip(indexes, parts, strict=True)}
    return VoucherResult(voucher_id=voucher.pk, code=voucher.code, label=_describe(voucher, currency),
                         amount=amount, per_line=per_line)


def discounts_for(lines: Sequence[PromoLine], *, user=None, voucher_code: str = "", email: str = "",
                  is_member: bool = False, now=None, automatic: bool = True) -> list[AppliedDiscount]:
    """Every discount for these lines: the automatic promotions that apply (unless
    ``automatic=False``), then the voucher, if a code is given, on what the promotions left of
    each line. Raises VoucherRefused when the given code does not apply, so the caller can say why."""
    applied: list[AppliedDiscount] = []
    if automatic:
        for promo in engine.apply_promotions(lines, is_member=is_member, now=now or timezone.now()):
            applied.append(AppliedDiscount(
                code="", label=promo.label, amount=promo.amount, per_line=promo.per_line,
                promotion_id=promo.promotion_id, free_shipping_line_indexes=promo.free_shipping_line_indexes,
            ))
    if not normalize_code(voucher_code):
        return applied
    if applied:
        left = [line.amount for line in lines]
        for discount in applied:
            for index, part in discount.per_line.items():
                left[index] = left[index] - part
        lines = [replace(line, amount=amount) for line, amount in zip(lines, left, strict=True)]
    result = voucher_check(code=voucher_code, lines=lines, user=user, email=email)
    return [*applied, AppliedDiscount(code=result.code, label=result.label, amount=result.amount,
                                      per_line=result.per_line)]


def promotion_save(*, promotion: Promotion, **m2m) -> Promotion:
    """Save a promotion (and any of its sets given: categories, brands, sellers, products) and
    invalidate the cached live set once the transaction commits."""
    with transaction.atomic():
        promotion.full_clean(exclude=list(m2m))
        promotion.save()
        for name, values in m2m.items():
            getattr(promotion, name).set(values)
        engine.bump_on_commit()
    return promotion


def voucher_redeem(*, code: object, order_number: str, user, email: str, amount: Decimal) -> VoucherRedemption:
    """Count one use of the voucher for this order. Call inside the order's transaction: a refusal
    raises VoucherRefused and the caller's transaction (the whole order) rolls back."""
    with transaction.atomic():
        voucher = _voucher_get(code, lock=True)  # the row lock serializes the per-customer check
        _check_dates_and_state(voucher)
        _check_customer_limit(voucher, user=user, email=email)
        counted = Voucher.objects.filter(pk=voucher.pk)
        if voucher.max_uses is not None:
            counted = counted.filter(times_used__lt=voucher.max_uses)
        if counted.update(times_used=F("times_used") + 1) != 1:
            raise _total_limit_error()
        try:
            with transaction.atomic():
                return VoucherRedemption.objects.create(
                    voucher=voucher, order_number=order_number,
                    user=user if getattr(user, "is_authenticated", False) else None,
                    email=(email or "").strip()[:254], amount=amount,
                )
        except IntegrityError:
            raise VoucherRefused(_("An order can use only one voucher."), code="voucher_one_per_order")


def voucher_release(*, order_number: str) -> None:
    """Give back the use of an order that was never paid (its payment was declined)."""
    with transaction.atomic():
        redemption = VoucherRedemption.objects.select_for_update().filter(order_number=order_number).first()
        if redemption is None:
            return
        Voucher.objects.filter(pk=redemption.voucher_id, times_used__gt=0).update(times_used=F("times_used") - 1)
        redemption.delete()


def voucher_generate_copies(*, voucher: Voucher, count: int = 100) -> list[Voucher]:
    """``count`` single-use copies of ``voucher`` (same terms and restrictions) with random codes."""
    created: list[Voucher] = []
    with transaction.atomic():
        while len(created) < count:
            code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(10))
            try:
                with transaction.atomic():
                    copy = Voucher.objects.create(
                        code=code, label=voucher.label, kind=voucher.kind, value=voucher.value,
                        minimum_spend=voucher.minimum_spend, starts_at=voucher.starts_at, ends_at=voucher.ends_at,
                        max_uses=1, max_uses_per_customer=1, active=voucher.active,
                    )
            except IntegrityError:
                continue  # the random code exists already: draw another
            copy.categories.set(voucher.categories.all())
            copy.brands.set(voucher.brands.all())
            copy.sellers.set(voucher.sellers.all())
            copy.products.set(voucher.products.all())
            created.append(copy)
    return created
