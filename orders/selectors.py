"""Reads for orders: a customer's orders, one order with everything it shows, guest links."""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import Count, F, Max, Prefetch, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from core.compiled_query import CompiledQuery, known_related
from fulfillment import selectors as fulfillment_selectors
from marketplace import selectors as marketplace_selectors
from orders.models import (
    Claim,
    DeliveryConfirmation,
    Order,
    OrderDiscount,
    OrderGiftCard,
    OrderLine,
    OrderRefund,
    OrderReservation,
    Package,
    ReturnRequest,
    SellerFeedback,
)
from orders.models import PaymentProblem as PaymentProblem
from payments import selectors as payment_selectors

# Other contexts compare ``order.status`` with ``orders.selectors.OrderStatus`` (and name a
# ``PaymentProblem``): the values are part of what orders publishes; its models are not (an
# import-linter contract).
OrderStatus = Order.Status

_GUEST_SALT = "orders.guest-link.v2"  # v2: the token names the order's guest nonce too
_MAX_TOKEN_LENGTH = 400
SHIP_PERMISSION = "orders.ship_package"
MERCHANT = "merchant"  # a package the seller ships itself (marketplace's Offer.Channel.MERCHANT)


# --- who ships what (invariant 7 in docs/architecture.md) ------------------------------------------------------------


def packages_shippable_by(*, actor, packages: QuerySet[Package]) -> QuerySet[Package]:
    """The packages among ``packages`` that ``actor`` may mark shipped or delivered.

    A seller's member: packages of their sellers (where their role grants ``orders.ship_package``)
    that the seller ships itself; Bazaar ships the packages it fulfils. Platform staff and
    superusers: every package (their own permission is checked by the admin); ``actor`` None is the
    system (the carrier's tracking updates, tests)."""
    if actor is None or marketplace_selectors.seller_scope_for_user(actor) is None:
        return packages
    sellers = marketplace_selectors.seller_ids_with_permission(actor, SHIP_PERMISSION)
    return packages.filter(seller_id__in=sorted(sellers), fulfillment_channel=MERCHANT)


def package_ship_refusal(*, package: Package, actor) -> str | None:
    """Why ``actor`` may not mark ``package`` shipped or delivered, or None when they may."""
    if actor is None or marketplace_selectors.seller_scope_for_user(actor) is None:
        return None
    if package.fulfillment_channel != MERCHANT:
        return _("Bazaar ships the packages it fulfils: only Bazaar staff mark them shipped or delivered.")
    if package.seller_id not in marketplace_selectors.seller_ids_with_permission(actor, SHIP_PERMISSION):
        return _("Only your own seller's packages can be shipped or delivered by you.")
    return None


def package_address_visible(*, package: Package, actor) -> bool:
    """Whether ``actor`` may see where ``package`` goes (its slip's address, its carrier label):
    Bazaar staff and the members of a seller that ships the package itself. A seller whose package
    Bazaar fulfils never sees the buyer's address: Bazaar ships it."""
    seller_member = actor is not None and marketplace_selectors.seller_scope_for_user(actor) is not None
    return not (seller_member and package.fulfillment_channel != MERCHANT)


@dataclass(frozen=True)
class PackingSlip:
    """What goes in one package and, for whoever ships it, where it goes."""

    lines: list  # the package's order lines: title, SKU, units (and units refunded)
    ship_to: dict | None  # the order's delivery address and name; None when the viewer does not ship it
    phone: str = ""


def package_packing_slip(*, package: Package, actor) -> PackingSlip:
    """The package's contents, and its delivery address for Bazaar staff and for the members of a
    seller that ships the package itself. A seller whose package Bazaar fulfils never sees the
    buyer's address: Bazaar ships it."""
    lines = list(OrderLine.objects.filter(package_id=package.pk).order_by("pk").only(
        "product_title", "sku", "quantity", "refunded_quantity", "package_id"))
    if not package_address_visible(package=package, actor=actor):
        return PackingSlip(lines=lines, ship_to=None)
    address = dict(package.order.shipping_address or {})
    return PackingSlip(lines=lines, ship_to=address, phone=str(address.get("phone", "")))


def package_deliver_refusal(*, package: Package, actor) -> str | None:
    """Why ``actor`` may not mark ``package`` delivered, or None: delivery is confirmed by the
    carrier's tracking, by Bazaar staff, or assumed once long overdue (never by the seller, whose
    reserve is released from that day)."""
    if actor is None or marketplace_selectors.seller_scope_for_user(actor) is None:
        return None
    return _("Delivery is confirmed by the carrier's tracking or by Bazaar staff, not by the seller.")


def packages_assumed_delivered(*, before) -> list[int]:
    """Shipped packages without a carrier label whose latest promised day is before ``before``."""
    return list(Package.objects.filter(status=Package.Status.SHIPPED, carrier="", estimated_latest__lt=before)
                .order_by("pk").values_list("pk", flat=True)[:1000])


def _order_of_key(owner: str, key: str):
    return Order.objects.filter(idempotency_owner=owner, idempotency_key=key).order_by("pk")[:1]


# Looked up by every place-order request before anything else: compiled once (core.compiled_query).
_ORDER_OF_KEY = CompiledQuery(_order_of_key)


def order_by_idempotency_key(*, owner: str, key: str) -> Order | None:
    """The order placed under ``key`` by ``owner`` (keys of other owners are never seen)."""
    if not owner or not key or "\x00" in str(key):  # PostgreSQL text holds no NUL: no order has such a key
        return None
    found = _ORDER_OF_KEY.fetch(owner=str(owner), key=str(key))
    return found[0] if found else None


_ORDER = CompiledQuery(lambda pk: Order.objects.filter(pk=pk)[:1])


def order_get(*, pk: int) -> Order | None:
    found = _ORDER.fetch(pk=pk)
    return found[0] if found else None


_LINES_WITH_OFFER = CompiledQuery(
    lambda order_id: OrderLine.objects.filter(order_id=order_id, offer_id__isnull=False).only("offer_id").order_by("id")
)


def order_offer_id_list(*, order_id: int) -> list[int]:
    """The offers of an order's lines, in line order (none for an unknown order); one compiled query."""
    return [line.offer_id for line in _LINES_WITH_OFFER.fetch(order_id=order_id)]


def order_offer_ids(*, order: Order) -> QuerySet:
    """The offers the order's lines were for, as a subquery (``offer_id__in=...``)."""
    return OrderLine.objects.filter(order_id=order.pk, offer_id__isnull=False).values("offer_id")


def order_by_number(*, number: str) -> Order | None:
    return Order.objects.filter(number=number).first() if number else None


def order_waiting_under_another_key(*, owner: str, key: str, placed_since) -> Order | None:
    """An order ``owner`` placed since ``placed_since`` under another key than ``key`` that is still
    waiting for its payment (checkout refuses a second purchase meanwhile)."""
    return (Order.objects.filter(idempotency_owner=owner, status=Order.Status.PLACED, placed_at__gte=placed_since)
            .exclude(idempotency_key=key).only("pk", "number").first())


def unpaid_orders(*, placed_before, after_id: int = 0, limit: int = 200) -> QuerySet[Order]:
    """Orders still waiting for their payment, placed before then, in id order after ``after_id``."""
    return Order.objects.filter(status=Order.Status.PLACED, placed_at__lt=placed_before, pk__gt=after_id).order_by(
        "pk")[:limit]


def orders_for_user(*, user) -> QuerySet[Order]:
    if not getattr(user, "is_authenticated", False):
        return Order.objects.none()
    return Order.objects.filter(user=user).prefetch_related("lines").order_by("-placed_at", "-id")


def order_detail(*, number: str, history: bool = True) -> Order | None:
    """One order with packages, their lines, discounts and (unless ``history`` is off: the API's
    answers show no history) its history: a constant number of queries."""
    related = [
        Prefetch("packages", queryset=Package.objects.order_by("id").prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
        )),
        "discounts",
        Prefetch("refunds", queryset=OrderRefund.objects.order_by("id").prefetch_related("lines__line")),
    ]
    return Order.objects.filter(number=number).prefetch_related(*related, *(["events"] if history else [])).first()


_ANSWER_RELATIONS = ("packages", "discounts", "refunds", "gift_cards")


def order_answer(*, order: Order) -> Order | None:
    """``order`` as the API answers it (packages with their lines, discounts, refunds, gift
    cards): the instance itself when it carries them already (an order just created, see
    ``services.order_create``), else read as :func:`order_detail` reads it, without history."""
    known = getattr(order, "_prefetched_objects_cache", {})
    if all(name in known for name in _ANSWER_RELATIONS):
        return order
    return order_detail(number=order.number, history=False)


def order_for_user(*, user, number: str) -> Order | None:
    """The order if it belongs to ``user`` (a signed-in customer), else None."""
    order = order_detail(number=number)
    if order is None or not getattr(user, "is_authenticated", False) or order.user_id != user.pk:
        return None
    return order


# --- guest links ------------------------------------------------------------------------------
#
# A guest (no account) sees their order through a link in its e-mails: /orders/guest/?t=<token>.
# The token is signed with a timestamp over the order number and the order's guest nonce, so it
# expires (GUEST_LINK_MAX_AGE_DAYS) and a new nonce revokes every link sent so far. Opening it
# stores a grant in the session and redirects to /orders/guest/<number>/, a URL without the
# token (kept out of access logs, history and Referer headers). An order that belongs to an
# account is never opened by a guest link: its owner signs in.

GUEST_GRANTS_SESSION_KEY = "orders.guest_grants"


class GuestAccess(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # not a link we made (or its order is gone)
    EXPIRED = "expired"
    REVOKED = "revoked"  # the order's guest nonce changed since the link was made
    ACCOUNT = "account"  # the order belongs to an account: sign in to see it
    NO_ACCESS = "no_access"  # this session never opened a link to the order


@dataclass(frozen=True)
class GuestLink:
    access: GuestAccess
    order: Order | None = None  # set for OK (and ACCOUNT, for its number only)
    issued_at: int = 0  # when the link was made (unix seconds)


def guest_link_max_age() -> int:
    """How long a guest link works, in seconds."""
    return int(settings.GUEST_LINK_MAX_AGE_DAYS) * 24 * 60 * 60


def guest_token(*, order: Order) -> str:
    """A signed, timestamped token naming the order and its current guest nonce."""
    payload = {"n": order.number, "k": order.guest_nonce, "t": int(time.time())}
    return signing.dumps(payload, salt=_GUEST_SALT, compress=True)


def guest_link_path(*, order: Order) -> str:
    """The path of a fresh guest link to ``order`` (the token in the query string, never the path);
    empty for an order that belongs to an account (its owner signs in instead)."""
    if order.user_id is not None:
        return ""
    return reverse("orders:guest_open") + "?" + urlencode({"t": guest_token(order=order)})


def _order_for_link(number: str) -> Order | None:
    return Order.objects.filter(number=number).only("pk", "number", "user_id", "guest_nonce").first()


def guest_link_check(*, token: str) -> GuestLink:
    """What a guest link token opens. Never raises: a forged, truncated or foreign token is
    INVALID, exactly like a token whose order no longer exists."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        return GuestLink(GuestAccess.INVALID)
    try:
        data = signing.loads(token, salt=_GUEST_SALT, max_age=guest_link_max_age())
    except signing.SignatureExpired:
        return GuestLink(GuestAccess.EXPIRED)
    except signing.BadSignature:
        return GuestLink(GuestAccess.INVALID)
    if not isinstance(data, dict):
        return GuestLink(GuestAccess.INVALID)
    number, nonce, issued_at = data.get("n"), data.get("k"), data.get("t")
    if not (isinstance(number, str) and isinstance(nonce, str) and isinstance(issued_at, int)):
        return GuestLink(GuestAccess.INVALID)
    order = _order_for_link(number)
    if order is None:
        return GuestLink(GuestAccess.INVALID)
    if order.user_id is not None:
        return GuestLink(GuestAccess.ACCOUNT, order=order)
    if not constant_time_compare(nonce, order.guest_nonce):
        return GuestLink(GuestAccess.REVOKED)
    return GuestLink(GuestAccess.OK, order=order, issued_at=issued_at)


def order_by_guest_token(*, token: str) -> Order | None:
    """The order a valid guest link opens (with everything its page shows), else None."""
    link = guest_link_check(token=token)
    return order_detail(number=link.order.number) if link.access == GuestAccess.OK else None


def guest_grants(*, session) -> dict[str, dict]:
    """The grants this session holds: ``{number: {"k": nonce, "t": issued_at}}``."""
    grants = session.get(GUEST_GRANTS_SESSION_KEY)
    return grants if isinstance(grants, dict) else {}


def order_for_guest_session(*, session, number: str) -> GuestLink:
    """The order ``number`` if this session opened a valid link to it: the grant's nonce must
    still be the order's and the link it came from must not have expired since. The order comes
    with everything its page shows."""
    grant = guest_grants(session=session).get(number)
    if not isinstance(grant, dict) or not isinstance(grant.get("k"), str) or not isinstance(grant.get("t"), int):
        return GuestLink(GuestAccess.NO_ACCESS)
    order = order_detail(number=number)
    if order is None or order.user_id is not None:
        return GuestLink(GuestAccess.NO_ACCESS)
    if not constant_time_compare(grant["k"], order.guest_nonce):
        return GuestLink(GuestAccess.REVOKED)
    if time.time() - grant["t"] > guest_link_max_age():
        return GuestLink(GuestAccess.EXPIRED)
    return GuestLink(GuestAccess.OK, order=order, issued_at=grant["t"])


def _normalized_email(email: str) -> bytes:
    return (email or "").strip().casefold().encode()


def order_email_matches(*, order: Order, email: str) -> bool:
    """Whether ``email`` is the order's e-mail address (any letter case; compared in constant time)."""
    return bool(email) and hmac.compare_digest(_normalized_email(email), _normalized_email(order.email))


def guest_order_for_link_request(*, number: str, email: str) -> Order | None:
    """The guest order (no account) with this number and e-mail address, else None. For the
    "send me my order link" form: callers answer the same either way."""
    number = (number or "").strip().upper()
    if not number or not email:
        return None
    order = Order.objects.filter(number=number, user__isnull=True).only("pk", "number", "email").first()
    return order if order is not None and order_email_matches(order=order, email=email) else None


# What a worker reads of an order after it is placed (its e-mail, its invoices): every order is
# read this way once or twice, always in the same shape, so compiled once (core.compiled_query).
_PACKAGES_OF_ORDER = CompiledQuery(lambda order_id: Package.objects.filter(order_id=order_id).order_by("id"))
_PACKAGES_WITH_ORDER = CompiledQuery(
    lambda order_id: Package.objects.select_related("order").filter(order_id=order_id).order_by("id")
)
# Lines are found by their own order_id (indexed); the package's order_id keeps the answer exactly
# prefetch_related's. Joined through the package alone, PostgreSQL came to plan a scan of every
# line as the table grew (the order load's database CPU per order went from 11 to 30 ms).
_LINES_OF_PACKAGES_OF_ORDER = CompiledQuery(
    lambda order_id: OrderLine.objects.filter(order_id=order_id, package__order_id=order_id).order_by("id")
)
_DISCOUNTS_OF_ORDER = CompiledQuery(lambda order_id: OrderDiscount.objects.filter(order_id=order_id))


def _with_lines(packages: list[Package], *, order_id: int) -> list[Package]:
    """``packages`` (all of one order) with their lines, as ``prefetch_related("lines")`` gives them."""
    by_package: dict[int, list[OrderLine]] = {package.pk: [] for package in packages}
    for line in _LINES_OF_PACKAGES_OF_ORDER.fetch(order_id=order_id):
        if line.package_id in by_package:
            by_package[line.package_id].append(line)
    for package in packages:
        known_related(package, lines=by_package[package.pk])
    return packages


def order_for_email(*, order_id: int) -> Order | None:
    """One order as its e-mails show it: packages with their lines, and discounts (no history, no
    refunds: the e-mail about a refund reads those itself); four queries."""
    order = order_get(pk=order_id)
    if order is None:
        return None
    packages = _with_lines(_PACKAGES_OF_ORDER.fetch(order_id=order_id), order_id=order_id)
    known_related(order, packages=packages, discounts=_DISCOUNTS_OF_ORDER.fetch(order_id=order_id))
    return order


def order_detail_by_id(*, order_id: int) -> Order | None:
    order = Order.objects.filter(pk=order_id).values_list("number", flat=True).first()
    return order_detail(number=order) if order else None


def order_can_cancel(*, order: Order) -> bool:
    """Cancellable until a package has left (uses the prefetched packages), and while nobody has used
    a gift card the order bought (one query, only for a cancellable order that bought gift cards)."""
    if order.status not in (Order.Status.PLACED, Order.Status.PAID) or any(
            p.status != Package.Status.PENDING for p in order.packages.all()):
        return False
    if not order.gift_cards_total:
        return True
    issued = OrderGiftCard.objects.filter(order_id=order.pk, status=OrderGiftCard.Status.ISSUED).only("pk")
    return not payment_selectors.gift_cards_used(references=[card.reference for card in issued])


BOUGHT_STATUSES = (
    Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED, Order.Status.DELIVERED,
    Order.Status.COMPLETED,
)


def user_bought_product(user_id: int, product_id: int) -> bool:
    """Whether this customer has a paid (or later: shipped, delivered, completed) order with a
    line of this product. Registered as catalog's purchase verifier (``orders.apps``)."""
    if not user_id or not product_id:
        return False
    return OrderLine.objects.filter(
        order__user_id=user_id, order__status__in=BOUGHT_STATUSES, product_id=product_id
    ).exists()


# --- for finance (the seller ledger) ----------------------------------------------------------


def package_with_lines(*, package_id: int) -> Package | None:
    """A package with its order and lines (what the seller ledger posts when it ships)."""
    return (Package.objects.select_related("order").prefetch_related("lines")
            .filter(pk=package_id).first())


def order_packages_with_lines(*, order_id: int) -> list[Package]:
    """Every package of an order, with the order and lines (the ledger's postings, invoices); two
    queries."""
    return _with_lines(_PACKAGES_WITH_ORDER.fetch(order_id=order_id), order_id=order_id)


def packages_delivered_before(*, package_ids: list[int], before) -> list[int]:
    """Which of these packages were delivered before ``before``."""
    return list(Package.objects.filter(pk__in=package_ids, status=Package.Status.DELIVERED, delivered_at__lt=before)
                .values_list("pk", flat=True))


# --- what the order page shows from contexts above orders ------------------------------------------


@runtime_checkable
class OrderDocument(Protocol):
    """A document about the order issued by a context above orders (an invoice, a credit note)."""

    title: str  # e.g. "Invoice INV-3-000012"
    seller_name: str  # who issued it
    issued_at: datetime
    total: Decimal
    currency: str
    url: str  # where the buyer downloads it: the page checks who asks


@runtime_checkable
class OrderPageInputs(Protocol):
    """What the order page needs from contexts above orders: the shop's strategy
    (``request.strategy``) answers it; orders never looks it up itself."""

    def order_documents(self, order: Order) -> Sequence[OrderDocument]:
        """The order's invoices and credit notes, oldest first (the caller already checked that
        the shopper may see the order)."""
        ...


# --- feedback on sellers ------------------------------------------------------------------------------


def sellers_rated(*, order: Order) -> set[int]:
    """Sellers the buyer rated for this order."""
    return set(SellerFeedback.objects.filter(order=order).values_list("seller_id", flat=True))


CLAIM_REASONS: list[tuple[str, str]] = list(Claim.Reason.choices)


def package_timelines(*, order: Order) -> dict:
    """package id -> its carrier shipment (tracking status and events), for packages with a label."""
    shipments = fulfillment_selectors.carrier_shipments(references=[f"package:{p.pk}" for p in order.packages.all()])
    return {int(reference.split(":", 1)[1]): shipment for reference, shipment in shipments.items()}


def claims_of_order(*, order: Order) -> dict[int, Claim]:
    """The order's claims by seller."""
    return {claim.seller_id: claim for claim in Claim.objects.filter(order=order)}


def claim_get(*, pk: int) -> Claim | None:
    return Claim.objects.select_related("order").filter(pk=pk).first()


def shipped_package_of(*, order: Order, seller_id: int) -> Package | None:
    return Package.objects.filter(order=order, seller_id=seller_id, shipped_at__isnull=False).first()


def delivered_package_of(*, order: Order, seller_id: int) -> Package | None:
    return Package.objects.filter(order=order, seller_id=seller_id, status=Package.Status.DELIVERED).first()


def delivered_package(*, order: Order, package_id: int) -> Package | None:
    """A delivered package of ``order``, with its lines (for a return)."""
    return (Package.objects.filter(order=order, pk=package_id, status=Package.Status.DELIVERED)
            .prefetch_related("lines").first())


# --- for finance (account health) ----------------------------------------------------------------------


@dataclass
class SellerPerformance:
    """A seller's raw counts over the account health windows."""

    orders: int = 0  # orders with a package of theirs, placed in the defect window
    defective_orders: int = 0  # of those: refunded, claimed (claim not denied), or rated 1-2 stars
    packages: int = 0  # packages placed in the cancellation window
    cancelled: int = 0  # of those: cancelled before shipping
    shipped: int = 0  # packages shipped in the shipping window
    shipped_late: int = 0  # of those: shipped after their earliest promised delivery day
    tracked: int = 0  # of those: with a valid tracking number (a Bazaar label's, or a plausible one)
    due: int = 0  # packages whose latest promised day fell in the delivery window (see ``delivery_due``)
    on_time: int = 0  # of those: delivered by that day


# A carrier's tracking number: 8 to 40 letters and digits, at least 6 of them digits (UPS 1Z..., USPS,
# FedEx, DHL all fit; "N/A", "sent", "123" do not). A Bazaar label's number is valid by construction.
PLAUSIBLE_TRACKING = r"^(?=(.*[0-9]){6})[A-Za-z0-9]{8,40}$"


def delivery_due(*, since: date, today: date):
    """The packages an on-time delivery rate is judged on: their latest promised day is on or after
    ``since``, and either they were delivered (on time or not) or that day is past (so they are late
    whether delivered, shipped or still waiting). Cancelled packages are left out, and so are those
    only taken as delivered when long overdue (nobody saw them arrive)."""
    return (Package.objects.filter(estimated_latest__gte=since)
            .filter(Q(status=Package.Status.DELIVERED) | Q(estimated_latest__lt=today))
            .exclude(status=Package.Status.CANCELLED)
            .exclude(delivery_confirmed_by=DeliveryConfirmation.ASSUMED))


ON_TIME = Q(status=Package.Status.DELIVERED, delivered_at__date__lte=F("estimated_latest"))


def seller_performance(*, defect_since, cancel_since, shipping_since, delivery_since=None
                       ) -> dict[int, SellerPerformance]:
    """Per seller, the counts the account health rates come from: seven grouped queries, whatever
    the number of sellers and orders."""
    result: dict[int, SellerPerformance] = {}

    def of(seller_id: int) -> SellerPerformance:
        return result.setdefault(seller_id, SellerPerformance())

    window = Package.objects.filter(order__placed_at__gte=defect_since).exclude(order__status=Order.Status.PLACED)
    for row in window.values("seller_id").annotate(n=Count("order_id", distinct=True)):
        of(row["seller_id"]).orders = row["n"]
    defective: dict[int, set[int]] = {}
    for seller_id, order_id in window.filter(order__status=Order.Status.REFUNDED).values_list("seller_id", "order_id"):
        defective.setdefault(seller_id, set()).add(order_id)
    low = SellerFeedback.objects.filter(rating__lte=2, order__placed_at__gte=defect_since)
    for seller_id, order_id in low.values_list("seller_id", "order_id"):
        defective.setdefault(seller_id, set()).add(order_id)
    claimed = Claim.objects.filter(order__placed_at__gte=defect_since).exclude(status=Claim.Status.DENIED)
    for seller_id, order_id in claimed.values_list("seller_id", "order_id"):
        defective.setdefault(seller_id, set()).add(order_id)
    for seller_id, orders in defective.items():
        of(seller_id).defective_orders = len(orders)
    recent = Package.objects.filter(order__placed_at__gte=cancel_since).exclude(order__status=Order.Status.PLACED)
    for row in recent.values("seller_id").annotate(
            n=Count("id"), cancelled=Count("id", filter=Q(status=Package.Status.CANCELLED, shipped_at__isnull=True))):
        perf = of(row["seller_id"])
        perf.packages, perf.cancelled = row["n"], row["cancelled"]
    shipped = Package.objects.filter(shipped_at__gte=shipping_since)
    for row in shipped.values("seller_id").annotate(
            n=Count("id"),
            late=Count("id", filter=Q(estimated_earliest__isnull=False, shipped_at__date__gt=F("estimated_earliest"))),
            tracked=Count("id", filter=~Q(carrier="") | Q(tracking_number__regex=PLAUSIBLE_TRACKING))):
        perf = of(row["seller_id"])
        perf.shipped, perf.shipped_late, perf.tracked = row["n"], row["late"], row["tracked"]
    if delivery_since is not None:
        today = timezone.localdate()
        due = delivery_due(since=timezone.localtime(delivery_since).date(), today=today)
        for row in due.values("seller_id").annotate(n=Count("id"), on_time=Count("id", filter=ON_TIME)):
            perf = of(row["seller_id"])
            perf.due, perf.on_time = row["n"], row["on_time"]
    return result


@dataclass(frozen=True)
class DeliveryRow:
    key: object  # seller, warehouse or shipping method id/code (None: not known)
    name: str
    due: int
    on_time: int
    late: int
    undelivered: int  # late and still not delivered

    @property
    def rate(self) -> Decimal | None:
        return (Decimal(self.on_time) * 100 / self.due).quantize(Decimal("0.1")) if self.due else None


DELIVERY_GROUPS = {"seller": ("seller_id", "seller_name"), "warehouse": ("shipped_from_id", "shipped_from__name"),
                   "method": ("shipping_method_code", "shipping_method_name")}


def delivery_performance(*, by: str, since: date, today: date | None = None, seller_ids=None) -> list[DeliveryRow]:
    """On-time delivery per seller, per warehouse shipped from, or per shipping method (``by``),
    over the packages due since ``since`` (see :func:`delivery_due`): one grouped query, the worst
    rate first. ``seller_ids`` limits it to those sellers' packages."""
    key, name = DELIVERY_GROUPS[by]
    due = delivery_due(since=since, today=today or timezone.localdate())
    if seller_ids is not None:
        due = due.filter(seller_id__in=list(seller_ids))
    rows = (due.values(key).annotate(
        label=Max(name), n=Count("id"), on_time=Count("id", filter=ON_TIME),
        undelivered=Count("id", filter=~Q(status=Package.Status.DELIVERED))).order_by(key))
    result = [DeliveryRow(row[key], row["label"] or "", row["n"], row["on_time"], row["n"] - row["on_time"],
                          row["undelivered"]) for row in rows]
    return sorted(result, key=lambda r: (r.rate if r.rate is not None else Decimal(101), str(r.name)))


SOLD = (Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED, Order.Status.DELIVERED,
        Order.Status.COMPLETED)


def seller_sales(*, seller_id: int, windows: dict[str, object]) -> dict[str, tuple[Decimal, int]]:
    """Per window (name -> since): the seller's sales (line totals before tax) and units in paid
    orders placed since then. One query for every window."""
    aggregates = {}
    for i, since in enumerate(windows.values()):
        aggregates[f"amount{i}"] = Sum("subtotal", filter=Q(order__placed_at__gte=since))
        aggregates[f"units{i}"] = Sum("quantity", filter=Q(order__placed_at__gte=since))
    row = OrderLine.objects.filter(seller_id=seller_id, order__status__in=SOLD).aggregate(**aggregates)
    return {name: (row[f"amount{i}"] or Decimal("0.00"), row[f"units{i}"] or 0) for i, name in enumerate(windows)}


def _to_ship(seller_id: int):
    return Package.objects.filter(seller_id=seller_id, status=Package.Status.PENDING, fulfillment_channel=MERCHANT,
                                  order__status__in=[Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED])


def packages_to_ship(*, seller_id: int, limit: int = 20) -> list[Package]:
    """The seller's packages waiting for it to ship in paid orders, the most overdue first (the
    packages Bazaar fulfils are Bazaar's to ship)."""
    return list(_to_ship(seller_id).select_related("order")
                .order_by(F("estimated_earliest").asc(nulls_last=True), "id")[:limit])


def packages_to_ship_count(*, seller_id: int) -> int:
    return _to_ship(seller_id).count()


@dataclass
class PickRow:
    offer_id: int
    sku: str
    title: str
    quantity: int = 0
    packages: list = field(default_factory=list)  # (order number, package id, units)
    bin: str = ""  # where to pick them


def pick_list(*, warehouse_id: int) -> list[PickRow]:
    """What to pick in a warehouse now: the units held there for packages still being prepared of
    paid orders, one row per offer (the total and the packages it goes to), in bin order (a walk
    down the aisles; rows not shelved yet last, by title). Four queries."""
    held = (OrderReservation.objects.filter(
        released=False, order__status__in=(Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED),
        stock_item_id__in=fulfillment_selectors.stock_item_ids_in(warehouse_id=warehouse_id))
        .values_list("order_id", "offer_id", "quantity", "stock_item_id"))
    held = list(held)
    lines = {(line.order_id, line.offer_id): line for line in OrderLine.objects.filter(
        order_id__in={row[0] for row in held}).select_related("order", "package")}
    bins = fulfillment_selectors.stock_item_bins(stock_item_ids={row[3] for row in held}) if held else {}
    rows: dict[int, PickRow] = {}
    for order_id, offer_id, quantity, stock_item_id in held:
        line = lines.get((order_id, offer_id))
        if line is None or line.package is None or line.package.status != Package.Status.PENDING:
            continue
        row = rows.setdefault(offer_id, PickRow(offer_id, line.sku, line.product_title,
                                                bin=bins.get(stock_item_id, "")))
        row.quantity += quantity
        row.packages.append((line.order.number, line.package_id, quantity))
    return sorted(rows.values(), key=lambda r: (not r.bin, r.bin, r.title.lower(), r.sku))


def refund_detail(*, refund_id: int):
    """A partial refund with its order and explained lines."""
    return (OrderRefund.objects.select_related("order").prefetch_related("lines__line")
            .filter(pk=refund_id).first())


def refunds_of_order(*, order: Order) -> list:
    """The order's partial refunds, oldest first, with their lines."""
    return list(order.refunds.prefetch_related("lines__line").order_by("id"))


def order_line_with_refunds(*, line_id: int) -> OrderLine | None:
    """An order line with its partial refunds' lines (for the seller ledger's shares)."""
    return OrderLine.objects.select_related("order").prefetch_related("refund_lines").filter(pk=line_id).first()


def packages_with_shipping_refunded(*, refund) -> list[Package]:
    """The packages whose shipping ``refund`` gave back (each package's once, whole)."""
    return list(Package.objects.filter(order_id=refund.order_id, pk__in=list(refund.shipping_packages or ())))


def package_late(*, order: Order, seller_id: int, today=None) -> bool:
    """Whether a package of ``seller_id`` in ``order`` is past its latest promised day and not
    delivered (shipped or not)."""
    today = today or timezone.localdate()
    return Package.objects.filter(order=order, seller_id=seller_id, estimated_latest__lt=today,
                                  status__in=[Package.Status.PENDING, Package.Status.SHIPPED]).exists()


def claimable_sellers(*, order: Order, today=None) -> set[int]:
    """Sellers of ``order`` the buyer may open a claim about now (shipped, or late past the promised
    day), before the claim window closes; none for a refunded or cancelled order."""
    if order.status in (Order.Status.REFUNDED, Order.Status.CANCELLED):
        return set()
    today = today or timezone.localdate()
    since = timezone.now() - timedelta(days=settings.ORDERS_CLAIM_WINDOW_DAYS)
    sellers = set()
    for package in order.packages.all():
        late = package.estimated_latest and package.estimated_latest < today and package.status in (
            Package.Status.PENDING, Package.Status.SHIPPED)
        if late or (package.shipped_at and package.shipped_at >= since):
            sellers.add(package.seller_id)
    # a refused return opens a claim, within the window counted from the refusal (orders.services.claim_open)
    sellers |= set(ReturnRequest.objects.filter(order=order, status=ReturnRequest.Status.REFUSED, decided_at__gte=since)
                   .values_list("seller_id", flat=True))
    return sellers


def order_for_analytics(order_id: int) -> dict | None:
    """What insights records about an order (Segment's "Order Completed" and friends), as plain
    values: the number, buyer (``user_id``, ``visitor_id``), money fields as Decimals and one entry
    per line with its product's category name. ``None`` when the order no longer exists. Two
    queries whatever the number of lines."""
    order = (Order.objects.filter(pk=order_id)
             .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("product__category")
                                        .order_by("id")))
             .first())
    if order is None:
        return None
    return {
        "number": order.number, "user_id": order.user_id, "visitor_id": order.visitor_id,
        "status": order.status, "currency": order.currency, "subtotal": order.subtotal,
        "discount": order.discount, "shipping": order.shipping, "tax": order.tax, "total": order.total,
        "refunded_amount": order.refunded_amount,
        "lines": [
            {"product_id": line.product_id, "sku": line.sku, "name": line.product_title,
             "category": line.product.category.name if line.product is not None else "",
             "price": line.unit_price, "quantity": line.quantity, "seller_id": line.seller_id}
            for line in order.lines.all()
        ],
    }


# --- personal data (the customer's data export; closing an account) ------------------------------

OPEN_ORDER_STATUSES = (Order.Status.PLACED, Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED)
CLOSED_RETURN_STATUSES = (ReturnRequest.Status.REFUSED, ReturnRequest.Status.REFUNDED, ReturnRequest.Status.CANCELLED)


def personal_data(*, user_id: int) -> dict:
    """Everything ``user_id`` bought and asked after the sale, for their data export: orders (lines,
    packages, refunds), returns, claims and ratings of sellers. A constant number of queries."""
    orders = (Order.objects.filter(user_id=user_id).order_by("placed_at", "id")
              .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
                                Prefetch("packages", queryset=Package.objects.order_by("id")),
                                Prefetch("refunds", queryset=OrderRefund.objects.order_by("id"))))
    return {
        "orders": [{
            "number": o.number, "placed_at": o.placed_at, "status": o.status, "email": o.email,
            "currency": o.currency, "subtotal": o.subtotal, "discount": o.discount, "shipping": o.shipping,
            "tax": o.tax, "total": o.total, "refunded": o.refunded_amount,
            "paid_with_store_credit": o.store_credit_used, "paid_with_gift_cards": o.gift_card_used,
            "shipping_address": o.shipping_address, "billing_address": o.billing_address,
            "lines": [{"product": line.product_title, "seller": line.seller_name, "quantity": line.quantity,
                       "unit_price": line.unit_price, "discount": line.discount, "tax": line.tax, "total": line.total,
                       "units_refunded": line.refunded_quantity} for line in o.lines.all()],
            "packages": [{"seller": p.seller_name, "shipping": p.shipping_method_name, "status": p.status,
                          "carrier": p.carrier_name or p.carrier, "tracking_number": p.tracking_number,
                          "shipped_at": p.shipped_at, "delivered_at": p.delivered_at} for p in o.packages.all()],
            "refunds": [{"amount": r.amount, "reason": r.reason, "status": r.status, "created_at": r.created_at}
                        for r in o.refunds.all()],
        } for o in orders],
        "returns": list(ReturnRequest.objects.filter(order__user_id=user_id).order_by("id").values(
            "order__number", "reason", "description", "status", "created_at", "received_at")),
        "claims": list(Claim.objects.filter(user_id=user_id).order_by("id").values(
            "order__number", "reason", "description", "status", "resolution", "created_at")),
        "seller_ratings": list(SellerFeedback.objects.filter(user_id=user_id).order_by("id").values(
            "order__number", "seller__name", "rating", "comment", "created_at")),
    }


def open_business(*, user_id: int) -> tuple[int, int]:
    """(orders still on their way or not yet shipped, returns not yet settled) of ``user_id``: what an
    account cannot be closed with."""
    orders = Order.objects.filter(user_id=user_id, status__in=OPEN_ORDER_STATUSES).count()
    returns = ReturnRequest.objects.filter(order__user_id=user_id).exclude(status__in=CLOSED_RETURN_STATUSES).count()
    return orders, returns
