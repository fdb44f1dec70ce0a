"""Vouchers, automatic promotions and lightning deals: what they take off a cart, and the
writes that go with placing an order.

Promotions sits below checkout (docs/architecture.md), so it never imports checkout: checkout's pricing
pipeline calls ``discounts_for`` with plain ``PromoLine`` values and turns the answer into its
own discount lines; ``checkout.services.order_place`` calls ``voucher_redeem`` and ``deals_claim`` in its
reserve+create transaction, and ``voucher_release`` / ``deals_release`` when an order is never
paid (declined, failed, or given up by the settle job: one path, ``checkout.services``).
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from catalog import selectors as catalog_selectors
from core import cache as vcache
from core.exceptions import ApplicationError
from core.money import Money, allocate, format_money
from marketplace import services as marketplace_services
from promotions import deals, engine
from promotions.models import Deal, DealClaim, Promotion, Voucher, VoucherRedemption

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class VoucherRefused(ApplicationError):
    code = "voucher"


class DealUnavailable(ApplicationError):
    """A lightning deal in the order sold out or ended after the cart was priced: the whole
    order rolls back (stock, voucher, deals) and the shopper reviews the new total."""

    code = "deal_sold_out"
    status_code = 409


@dataclass(frozen=True)
class PromoLine:
    """One cart line as promotions sees it; ``amount`` is what is left to discount on it."""

    product_id: int
    seller_id: int
    amount: Money
    quantity: int = 1
    offer_id: int | None = None
    unit_price: Money | None = None  # the price per unit the shopper pays before discounts
    # (category id, brand id) of the product, when the caller has it loaded (pricing does): the
    # rules that name categories or brands then need no query; None: looked up.
    classification: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class AppliedDiscount:
    code: str
    label: str
    amount: Money
    per_line: dict[int, Money]  # index into the lines passed in -> part (parts sum to amount)
    promotion_id: int | None = None  # set for an automatic promotion; None for the voucher
    free_shipping_line_indexes: tuple[int, ...] = ()  # lines whose packages ship free
    claims: tuple[tuple[int, int], ...] = ()  # (deal id, units) a lightning deal claims at placement


@dataclass(frozen=True)
class VoucherResult:
    voucher_id: int
    code: str
    label: str
    amount: Money
    per_line: dict[int, Money]


def _refusal_for(exc: VoucherRefused, user) -> VoucherRefused:
    """What a caller learns when a code does not apply. A signed-in customer gets the exact reason
    (expired, used up, spend more...); anyone else gets one generic refusal, so that nobody can
    probe which codes exist, which have expired or are used up, or what they require."""
    if getattr(user, "is_authenticated", False):
        return exc
    return VoucherRefused(_("This code cannot be used for this order."), code="voucher_refused")


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
    info = engine.classification(lines) if categories or brands else {}
    indexes = []
    for index, line in enumerate(lines):
        category_id, brand_id = info.get(line.product_id, (None, None))
        if (
            line.product_id in products
            or line.seller_id in sellers
            or category_id in categories
            or brand_id in brands
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
    with the reason a signed-in shopper can act on (one generic reason for anyone else)."""
    try:
        return _voucher_check(code=code, lines=lines, user=user, email=email)
    except VoucherRefused as exc:
        raise _refusal_for(exc, user) from None


def _voucher_check(*, code: object, lines: Sequence[PromoLine], user, email: str) -> VoucherResult:
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
    """Every discount for these lines: the lightning deals, then the automatic promotions that
    apply on what the deals left (unless ``automatic=False``), then the voucher, if a code is
    given, on what they left of each line. Raises VoucherRefused when the given code does not
    apply, so the caller can say why."""
    applied: list[AppliedDiscount] = []
    if automatic:
        now = now or timezone.now()
        for deal in deals.apply_deals(lines, is_member=is_member, now=now):
            applied.append(AppliedDiscount(
                code="", label=deal.label, amount=deal.amount, per_line={deal.line_index: deal.amount},
                claims=((deal.deal_id, deal.units),),
            ))
        promo_lines = _left_over(lines, applied)
        for promo in engine.apply_promotions(promo_lines, is_member=is_member, now=now):
            applied.append(AppliedDiscount(
                code="", label=promo.label, amount=promo.amount, per_line=promo.per_line,
                promotion_id=promo.promotion_id, free_shipping_line_indexes=promo.free_shipping_line_indexes,
            ))
    if not normalize_code(voucher_code):
        return applied
    lines = _left_over(lines, applied)
    result = voucher_check(code=voucher_code, lines=lines, user=user, email=email)
    return [*applied, AppliedDiscount(code=result.code, label=result.label, amount=result.amount,
                                      per_line=result.per_line)]


def _left_over(lines: Sequence[PromoLine], applied: Sequence[AppliedDiscount]) -> Sequence[PromoLine]:
    """The lines with what these discounts left of each."""
    if not applied:
        return lines
    left = [line.amount for line in lines]
    for discount in applied:
        for index, part in discount.per_line.items():
            left[index] = left[index] - part
    return [replace(line, amount=amount) for line, amount in zip(lines, left, strict=True)]


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


def voucher_save(*, voucher: Voucher, **m2m) -> Voucher:
    """Save a voucher (code stored in capitals) with any of its restriction sets given."""
    voucher.code = normalize_code(voucher.code)
    with transaction.atomic():
        voucher.full_clean(exclude=list(m2m))
        voucher.save()
        for name, values in m2m.items():
            getattr(voucher, name).set(values)
    return voucher


def voucher_redeem(*, code: object, order_number: str, user, email: str, amount: Decimal) -> VoucherRedemption:
    """Count one use of the voucher for this order. Call inside the order's transaction: a refusal
    raises VoucherRefused (generic for a guest, as in :func:`voucher_check`) and the caller's
    transaction (the whole order) rolls back."""
    try:
        return _voucher_redeem(code=code, order_number=order_number, user=user, email=email, amount=amount)
    except VoucherRefused as exc:
        raise _refusal_for(exc, user) from None


def _voucher_redeem(*, code: object, order_number: str, user, email: str, amount: Decimal) -> VoucherRedemption:
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


def order_benefits_release(*, order_number: str) -> int:
    """An order that will never be fulfilled (cancelled) gives back its voucher use and its deal
    units, in one transaction; idempotent. Returns the deal units given back."""
    with transaction.atomic():
        voucher_release(order_number=order_number)
        return deals_release(order_number=order_number)


def voucher_release(*, order_number: str) -> None:
    """Give back the use of an order that was never paid (its payment was declined) or was cancelled."""
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


# --- lightning deals ----------------------------------------------------------------------

DEAL_EDITABLE_FIELDS = ("offer", "label", "deal_price", "starts_at", "ends_at", "quantity_cap", "per_order_limit",
                        "members_only", "active")
BOUNDARY_CHECKED_KEY = "deals:boundaries-checked-at"


def deal_validate(deal: Deal) -> None:
    """The rules a deal obeys beyond its columns; ValidationError by field (admin shows them)."""
    errors: dict[str, list[str]] = defaultdict(list)
    if deal.starts_at and deal.ends_at and deal.ends_at <= deal.starts_at:
        errors["ends_at"].append(_("The deal must end after it starts."))
    if deal.offer_id and deal.deal_price is not None:
        offer = deal.offer
        if deal.deal_price >= offer.price:
            errors["deal_price"].append(
                _("The deal price must be below the offer's price (%(price)s).")
                % {"price": format_money(offer.price, offer.currency)}
            )
    if deal.per_order_limit and deal.quantity_cap and deal.per_order_limit > deal.quantity_cap:
        errors["per_order_limit"].append(_("The limit per order cannot be above the number of units."))
    if deal.pk and deal.quantity_cap is not None:
        claimed = Deal.objects.filter(pk=deal.pk).values_list("claimed", flat=True).first() or 0
        if deal.quantity_cap < claimed:
            errors["quantity_cap"].append(
                ngettext("%(n)d unit is already claimed: the cap cannot be lower.",
                         "%(n)d units are already claimed: the cap cannot be lower.", claimed) % {"n": claimed}
            )
    if deal.active and deal.offer_id and deal.starts_at and deal.ends_at and deal.ends_at > deal.starts_at:
        overlapping = (
            Deal.objects.filter(offer_id=deal.offer_id, active=True, starts_at__lt=deal.ends_at,
                                ends_at__gt=deal.starts_at)
            .exclude(pk=deal.pk).values_list("pk", flat=True).first()
        )
        if overlapping:
            errors["starts_at"].append(
                _("Another active deal on this offer (#%(id)s) overlaps these dates.") % {"id": overlapping}
            )
    if errors:
        raise ValidationError(dict(errors))


DEAL_OFFER_LOCK = 0x6465616C  # "deal": the advisory-lock class of "the deals of one offer"


def _lock_deals_of_offer(offer_id: int | None) -> None:
    """Serialise saves of deals on one offer until the transaction ends, so two admins saving
    overlapping deals at the same moment cannot both pass the overlap check (a row lock cannot
    cover a deal that does not exist yet). PostgreSQL only; SQLite writes one at a time anyway."""
    if offer_id and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DEAL_OFFER_LOCK, offer_id % 2_147_483_647])


def deal_save(*, deal: Deal) -> Deal:
    """Create or change a deal (never its claimed count) and refresh what shows it, on commit."""
    with transaction.atomic():
        _lock_deals_of_offer(deal.offer_id)
        before = None
        if deal.pk:
            # Lock the row: a claim waits, so the cap checked below is the cap that holds.
            before = (Deal.objects.select_for_update(of=("self",)).filter(pk=deal.pk)
                      .values("claimed", "offer__product__slug", "offer__product_id").first())
        errors: dict = {}
        for check in (lambda: deal.full_clean(exclude=["claimed"], validate_constraints=False),
                      lambda: deal_validate(deal)):
            try:
                check()
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)  # every problem at once; the constraints guard the rest
        if before is None:
            deal.claimed = 0  # a new deal has no claims; claims only come from deals_claim
            deal.save()
        else:
            deal.save(update_fields=list(DEAL_EDITABLE_FIELDS))
            deal.claimed = before["claimed"]
        slugs = [deal.offer.product.slug]
        product_ids = {deal.offer.product_id}
        if before is not None:
            slugs.append(before["offer__product__slug"])
            product_ids.add(before["offer__product_id"])
        deals.bump_on_commit(*slugs)
        marketplace_services.buy_box_request_refresh(product_ids=product_ids)  # a deal price ranks offers
    return deal


def deal_deleted(*, products: Iterable[tuple[str, int]] = ()) -> None:
    """After deals were deleted (admin): forget them in the cache, on their product pages and in
    their buy boxes. ``products``: (slug, id) of each deal's product."""
    products = list(products)
    deals.bump_on_commit(*(slug for slug, _pid in products))
    marketplace_services.buy_box_request_refresh(product_ids={pid for _slug, pid in products})


def _deal_unavailable(deal_id: int, units: int, now: datetime) -> DealUnavailable:
    deal = Deal.objects.select_related("offer__product").filter(pk=deal_id).first()
    if deal is None:
        return DealUnavailable(_("A lightning deal in your order has ended. Your order was not placed: please "
                                 "review the new total and confirm again."))
    title = deal.offer.product.title
    if deal.is_live(now) and 0 < deal.remaining < units:
        message = ngettext(
            "Only %(n)d unit is left at the lightning deal price on “%(title)s”.",
            "Only %(n)d units are left at the lightning deal price on “%(title)s”.", deal.remaining,
        ) % {"n": deal.remaining, "title": title}
    elif deal.is_live(now) and deal.per_order_limit and units > deal.per_order_limit:
        message = ngettext(
            "The lightning deal on “%(title)s” is limited to %(n)d unit per order.",
            "The lightning deal on “%(title)s” is limited to %(n)d units per order.", deal.per_order_limit,
        ) % {"n": deal.per_order_limit, "title": title}
    else:
        message = _("The lightning deal on “%(title)s” has just sold out or ended; its price is now %(price)s.") % {
            "title": title, "price": format_money(deal.offer.price, deal.offer.currency),
        }
    return DealUnavailable(
        message + " " + _("Your order was not placed: please review the new total and confirm again.")
    )


def deals_claim(*, order_number: str, claims: Iterable[tuple[int, int]]) -> list[DealClaim]:
    """Claim the deal units of an order. Call inside the order's transaction: each deal is one
    conditional UPDATE (live, and the units fit under the cap), so concurrent orders never claim
    more than the cap; a refusal raises DealUnavailable and the whole order rolls back."""
    wanted: dict[int, int] = defaultdict(int)
    for deal_id, units in claims:
        if int(units) > 0:
            wanted[int(deal_id)] += int(units)
    if not wanted:
        return []
    now = timezone.now()
    with transaction.atomic():
        for deal_id in sorted(wanted):  # a fixed order: two orders with the same deals never deadlock
            units = wanted[deal_id]
            updated = (
                Deal.objects.filter(pk=deal_id, active=True, starts_at__lte=now, ends_at__gt=now,
                                    claimed__lte=F("quantity_cap") - units)
                .filter(Q(per_order_limit__isnull=True) | Q(per_order_limit__gte=units))
                .update(claimed=F("claimed") + units)
            )
            if updated != 1:
                raise _deal_unavailable(deal_id, units, now)
        try:
            with transaction.atomic():
                made = DealClaim.objects.bulk_create([
                    DealClaim(deal_id=deal_id, order_number=order_number, quantity=units, created_at=now)
                    for deal_id, units in sorted(wanted.items())
                ])
        except IntegrityError:
            raise DealUnavailable(_("This order has already claimed its deals."), code="deal_already_claimed")
        touched = list(Deal.objects.filter(pk__in=list(wanted)).values_list(
            "offer__product__slug", "offer__product_id", "claimed", "quantity_cap"))
        deals.bump_on_commit(*(slug for slug, _pid, _claimed, _cap in touched))
        sold_out = [pid for _slug, pid, claimed, cap in touched if claimed >= cap]
        if sold_out:  # its deal price no longer ranks the offer
            marketplace_services.buy_box_request_refresh(product_ids=sold_out)
    return made


def deals_release(*, order_number: str) -> int:
    """Give back the deal units of an order that was never paid or was cancelled. Idempotent: a released claim
    stays (with ``released_at``) and is not given back twice. Returns the units given back."""
    with transaction.atomic():
        open_claims = list(
            DealClaim.objects.select_for_update().filter(order_number=order_number, released_at__isnull=True)
            .order_by("deal_id")
        )
        if not open_claims:
            return 0
        for claim in open_claims:
            Deal.objects.filter(pk=claim.deal_id, claimed__gte=claim.quantity).update(
                claimed=F("claimed") - claim.quantity
            )
        DealClaim.objects.filter(pk__in=[c.pk for c in open_claims]).update(released_at=timezone.now())
        deal_ids = [c.deal_id for c in open_claims]
        touched = list(Deal.objects.filter(pk__in=deal_ids).values_list("offer__product__slug", "offer__product_id"))
        deals.bump_on_commit(*(slug for slug, _pid in touched))
        marketplace_services.buy_box_request_refresh(product_ids=[pid for _slug, pid in touched])
    return sum(c.quantity for c in open_claims)


def deals_missed(*, offer_ids: Iterable[int], now: datetime | None = None) -> list[str]:
    """Why the deal price of these offers is gone (sold out, or ended within the hour): what to
    tell a shopper whose total changed since they reviewed it. One query."""
    now = now or timezone.now()
    rows = (
        Deal.objects.filter(offer_id__in=list(offer_ids), active=True, starts_at__lte=now)
        .filter(Q(ends_at__gt=now, claimed__gte=F("quantity_cap")) | Q(ends_at__lte=now,
                                                                        ends_at__gt=now - timedelta(hours=1)))
        .select_related("offer__product").order_by("pk")
    )
    return [
        _("The lightning deal on “%(title)s” has just sold out or ended; its price is now %(price)s.")
        % {"title": d.offer.product.title, "price": format_money(d.offer.price, d.offer.currency)}
        for d in rows
    ]


def deals_bump_boundaries(*, now: datetime | None = None) -> int:
    """Refresh the pages of products whose deal started or ended since the last run (Celery beat,
    every minute; safe to run again: a bump only makes pages render afresh). Returns how many."""
    now = now or timezone.now()
    last = vcache.safe_get(BOUNDARY_CHECKED_KEY)
    oldest = now - timedelta(seconds=settings.PAGE_CACHE_TIMEOUT)  # older pages expired anyway
    since = min(max(last, oldest), now) if isinstance(last, datetime) else oldest
    crossed = set(
        Deal.objects.filter(Q(starts_at__gt=since, starts_at__lte=now) | Q(ends_at__gt=since, ends_at__lte=now))
        .values_list("offer__product__slug", "offer__product_id")
    )
    slugs = {slug for slug, _pid in crossed}
    if slugs:
        deals.bump_now(*slugs)
        # the deal price starts or stops ranking its offer in the stored buy box
        marketplace_services.buy_box_request_refresh(product_ids={pid for _slug, pid in crossed})
    vcache.safe_set(BOUNDARY_CHECKED_KEY, now, 24 * 60 * 60)  # once gone, the last PAGE_CACHE_TIMEOUT is checked
    return len(slugs)
