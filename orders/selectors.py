"""Reads for orders: a customer's orders, one order with everything it shows, guest links."""

from __future__ import annotations

from django.core import signing
from django.db.models import Prefetch, QuerySet

from orders.models import Order, OrderLine, Package

_GUEST_SALT = "orders.guest-link"


def order_by_idempotency_key(*, owner: str, key: str) -> Order | None:
    """The order placed under ``key`` by ``owner`` (keys of other owners are never seen)."""
    if not owner or not key:
        return None
    return Order.objects.filter(idempotency_owner=owner, idempotency_key=key).first()


def order_get(*, pk: int) -> Order | None:
    return Order.objects.filter(pk=pk).first()


def order_by_number(*, number: str) -> Order | None:
    return Order.objects.filter(number=number).first() if number else None


def unpaid_orders(*, placed_before, after_id: int = 0, limit: int = 200) -> QuerySet[Order]:
    """Orders still waiting for their payment, placed before then, in id order after ``after_id``."""
    return Order.objects.filter(status=Order.Status.PLACED, placed_at__lt=placed_before, pk__gt=after_id).order_by(
        "pk")[:limit]


def orders_for_user(*, user) -> QuerySet[Order]:
    if not getattr(user, "is_authenticated", False):
        return Order.objects.none()
    return Order.objects.filter(user=user).prefetch_related("lines").order_by("-placed_at", "-id")


def order_detail(*, number: str) -> Order | None:
    """One order with packages, their lines and history: a constant number of queries."""
    return (
        Order.objects.filter(number=number)
        .prefetch_related(
            Prefetch("packages", queryset=Package.objects.order_by("id").prefetch_related(
                Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
            )),
            "events",
            "discounts",
        )
        .first()
    )


def order_for_user(*, user, number: str) -> Order | None:
    """The order if it belongs to ``user`` (a signed-in customer), else None."""
    order = order_detail(number=number)
    if order is None or not getattr(user, "is_authenticated", False) or order.user_id != user.pk:
        return None
    return order


def guest_token(*, order: Order) -> str:
    """A signed token for the link in a guest's e-mail (it names the order, cannot be forged)."""
    return signing.dumps({"n": order.number}, salt=_GUEST_SALT)


def order_by_guest_token(*, token: str) -> Order | None:
    try:
        data = signing.loads(token, salt=_GUEST_SALT)
    except signing.BadSignature:
        return None
    number = data.get("n") if isinstance(data, dict) else None
    return order_detail(number=number) if isinstance(number, str) else None


def order_detail_by_id(*, order_id: int) -> Order | None:
    order = Order.objects.filter(pk=order_id).values_list("number", flat=True).first()
    return order_detail(number=order) if order else None


def order_can_cancel(*, order: Order) -> bool:
    """Cancellable until a package has left (uses the prefetched packages)."""
    return order.status in (Order.Status.PLACED, Order.Status.PAID) and all(
        p.status == Package.Status.PENDING for p in order.packages.all()
    )


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
