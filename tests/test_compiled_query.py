"""Querysets compiled once (``core.compiled_query``): each one the buying path uses answers exactly as
the queryset it stands for, on the data of the moment (nothing is cached but the SQL text), and the
helper refuses shapes it could not answer faithfully."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef, Prefetch
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import ProductImage
from checkout import selectors as checkout_selectors
from checkout import services as checkout_services
from checkout.models import Cart, CartGiftCard, CartLine
from core.compiled_query import CompiledQuery
from fulfillment import selectors as fulfillment_selectors
from marketplace import selectors as marketplace_selectors
from orders import selectors as orders_selectors
from orders.models import Order, OrderDiscount, OrderLine, Package
from tests.factories import OfferFactory, UserFactory, stock

pytestmark = pytest.mark.django_db


def _state(obj) -> dict:
    """Every loaded column and annotation of ``obj``, and the same for the objects it carries."""
    values = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    cached = {name: _state(rel) for name, rel in obj._state.fields_cache.items() if rel is not None}
    return {"model": type(obj).__name__, "values": values, "related": cached,
            "db": obj._state.db, "adding": obj._state.adding}


def _order(**fields) -> Order:
    return Order.objects.create(subtotal=Decimal("1.00"), total=Decimal("1.00"), currency="USD",
                                shipping_address={"country": "US"}, billing_address={"country": "US"}, **fields)


def _same(compiled: list, orm: list) -> None:
    assert [_state(o) for o in compiled] == [_state(o) for o in orm]


@pytest.fixture
def cart_with_lines(house):
    pictured = OfferFactory(price=Decimal("12.50"))
    stock(pictured, 7)
    ProductImage.objects.create(product=pictured.product, image="products/p.jpg", thumbnail="thumbnails/p.jpg")
    plain = OfferFactory(price=Decimal("3.00"))  # no picture, no stock
    cart = Cart.objects.create()
    checkout_services.cart_add(cart=cart, offer_id=pictured.pk, quantity=2)
    CartLine.objects.create(cart=cart, offer=plain, quantity=1, price_when_added=Decimal("2.50"))
    return cart, pictured, plain


def test_the_cart_lines_a_cart_shows_are_what_the_orm_gives(cart_with_lines):
    cart, pictured, plain = cart_with_lines
    orm = list(
        CartLine.objects.filter(cart=cart).select_related("offer__seller", "offer__product")
        .annotate(cart_has_gift_cards=Exists(CartGiftCard.objects.filter(cart_id=OuterRef("cart_id"))),
                  available=fulfillment_selectors.available_of_offer("offer_id"),
                  thumbnail=catalog_selectors.thumbnail_of_product("offer__product_id"))
        .order_by("added_at", "pk")
    )
    for line in orm:
        line.cart = cart  # the selector hands each line its cart (no query when a caller reads it)
    compiled = [view.line for view in checkout_selectors.cart_view(cart=cart).lines]
    _same(compiled, orm)
    assert [(line.offer_id, line.available, line.thumbnail) for line in compiled] == [
        (pictured.pk, 7, "thumbnails/p.jpg"), (plain.pk, 0, None)]
    assert compiled[0].offer.seller.pk == pictured.seller_id  # two levels of select_related
    assert compiled[0].offer.product.title == pictured.product.title
    assert compiled[0].price_when_added == Decimal("12.50")  # converters ran: Decimal, not float or str


def test_the_cart_lines_checkout_prices_are_what_the_orm_gives(cart_with_lines):
    cart, _pictured, _plain = cart_with_lines
    orm = list(CartLine.objects.filter(cart=cart).select_related("offer__seller", "offer__product").annotate(
        dispatch_warehouse_id=fulfillment_selectors.dispatch_warehouse_of_offer("offer_id"),
        cart_has_gift_cards=Exists(CartGiftCard.objects.filter(cart_id=OuterRef("cart_id")))))
    for line in orm:
        line.offer.dispatch_warehouse_id = line.dispatch_warehouse_id
    _lines, offers, _gift_cards = checkout_selectors.cart_lines_with_offers(cart=cart)
    _same(list(offers.values()), [line.offer for line in orm])


def test_every_read_sees_the_data_of_the_moment(cart_with_lines):
    cart, pictured, plain = cart_with_lines
    assert [v.available for v in checkout_selectors.cart_view(cart=cart).lines] == [7, 0]
    stock(plain, 4)
    CartLine.objects.filter(cart=cart, offer=pictured).update(quantity=5)
    view = checkout_selectors.cart_view(cart=cart)
    assert [(v.quantity, v.available) for v in view.lines] == [(5, 7), (1, 4)]
    other = Cart.objects.create()  # the same compiled SQL, another value
    assert checkout_selectors.cart_view(cart=other).lines == []


def test_an_offer_is_sold_only_while_it_its_seller_and_its_product_are_active(house):
    offer = OfferFactory()
    found = marketplace_selectors.sold_offer(pk=offer.pk)
    _same([found], list(marketplace_selectors.offer_list().filter(pk=offer.pk)))
    assert found.seller.pk == offer.seller_id
    assert found.product.pk == offer.product_id
    for model, obj in (("product", offer.product), ("seller", offer.seller), ("offer", offer)):
        type(obj).objects.filter(pk=obj.pk).update(is_active=False)
        assert marketplace_selectors.sold_offer(pk=offer.pk) is None, model
        type(obj).objects.filter(pk=obj.pk).update(is_active=True)
    assert marketplace_selectors.sold_offer(pk=offer.pk) is not None
    assert marketplace_selectors.sold_offer(pk=2**62) is None  # an id no row has, beyond 32 bits


def test_a_shoppers_cart_is_found_as_before(house, rf):
    user = UserFactory()
    older, newer = Cart.objects.create(user=user), Cart.objects.create(user=user)
    Cart.objects.filter(pk=older.pk).update(updated_at=timezone.now() + timezone.timedelta(minutes=1))
    assert checkout_services.cart_for_session(session={}, user=user).pk == older.pk  # the latest changed
    guest = Cart.objects.create()
    assert checkout_services.cart_for_session(session={checkout_selectors.SESSION_KEY: guest.pk}, user=None) == guest
    session = {checkout_selectors.SESSION_KEY: newer.pk}  # a user's cart is never a guest's
    assert checkout_services.cart_for_session(session=session, user=None) is None
    assert checkout_selectors.SESSION_KEY not in session


def test_an_idempotency_key_finds_only_its_owners_order(house):
    order = _order(email="a@example.com", idempotency_owner="cart:1", idempotency_key="k-1")
    assert orders_selectors.order_by_idempotency_key(owner="cart:1", key="k-1") == order
    assert orders_selectors.order_by_idempotency_key(owner="cart:2", key="k-1") is None
    assert orders_selectors.order_by_idempotency_key(owner="cart:1", key="k-2") is None
    assert orders_selectors.order_by_idempotency_key(owner="cart:1", key="k-%") is None  # no pattern matching
    _same([orders_selectors.order_by_idempotency_key(owner="cart:1", key="k-1")],
          list(Order.objects.filter(pk=order.pk)))


def test_one_query_counted_like_any_other_and_instances_save_as_loaded_rows(cart_with_lines):
    cart, _pictured, _plain = cart_with_lines
    compiled = CompiledQuery(lambda cart_id: CartLine.objects.filter(cart_id=cart_id).order_by("pk"))
    compiled.fetch(cart_id=cart.pk)  # compiled; later runs only execute
    with CaptureQueriesContext(connection) as captured:
        lines = compiled.fetch(cart_id=cart.pk)
    assert len(captured.captured_queries) == 1
    lines[0].quantity = 3
    lines[0].save(update_fields=["quantity"])  # an UPDATE of the row, not an INSERT of a new one
    assert CartLine.objects.get(pk=lines[0].pk).quantity == 3
    assert CartLine.objects.filter(cart=cart).count() == 2


def test_values_must_be_exactly_the_builders_arguments(house):
    compiled = CompiledQuery(lambda cart_id: Cart.objects.filter(pk=cart_id))
    with pytest.raises(TypeError, match="cart_id"):
        compiled.fetch()
    with pytest.raises(TypeError, match="cart_id"):
        compiled.fetch(cart_id=1, other=2)


@pytest.mark.parametrize(("build", "message"), [
    (lambda pk: Order.objects.filter(pk=pk, placed_at__lt=timezone.now()), "frozen"),
    (lambda pk, seller_id: Cart.objects.filter(pk=pk), "seller_id did not reach the SQL"),
    (lambda pk: Cart.objects.filter(pk=pk).none(), "without the database"),
    (lambda pk: Cart.objects.filter(pk=pk).values("pk"), "model instances"),
    (lambda pk: Cart.objects.filter(pk=pk).prefetch_related("lines"), "prefetch"),
])
def test_shapes_it_cannot_answer_faithfully_are_refused(house, build, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        CompiledQuery(build).fetch(**dict.fromkeys(build.__code__.co_varnames[: build.__code__.co_argcount], 1))


def test_string_values_are_bound_not_written_into_the_sql(house):
    def of_email(email: str):
        return Order.objects.filter(email=email)

    _order(email="o'brien@example.com", idempotency_owner="x", idempotency_key="y")
    compiled = CompiledQuery(of_email)
    assert [o.email for o in compiled.fetch(email="o'brien@example.com")] == ["o'brien@example.com"]
    assert compiled.fetch(email="' OR 1=1 --") == []


@pytest.mark.django_db(transaction=True)
def test_each_thread_runs_on_its_own_connection(house):
    cart = Cart.objects.create()
    compiled = CompiledQuery(lambda cart_id: Cart.objects.filter(pk=cart_id))
    assert [c.pk for c in compiled.fetch(cart_id=cart.pk)] == [cart.pk]
    seen = {}

    def other_thread():
        try:
            seen["rows"] = [c.pk for c in compiled.fetch(cart_id=cart.pk)]
            seen["connection"] = connections["default"]
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(30)
    assert seen["rows"] == [cart.pk]
    assert seen["connection"] is not connections["default"]


def test_columns_the_ordering_adds_are_left_out(cart_with_lines):
    cart, _pictured, _plain = cart_with_lines
    # DISTINCT with an ordering by another table's column selects that column too, after the model's.
    build = lambda cart_id: CartLine.objects.filter(cart_id=cart_id).distinct().order_by("-offer__price")  # noqa: E731
    _same(CompiledQuery(build).fetch(cart_id=cart.pk), list(build(cart.pk)))


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_runs_only_inside_a_transaction_and_locks(house):
    cart = Cart.objects.create()
    compiled = CompiledQuery(lambda cart_id: Cart.objects.select_for_update().filter(pk=cart_id))
    with pytest.raises(TransactionManagementError):
        compiled.fetch(cart_id=cart.pk)  # as Django refuses it (the lock would end with the statement)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        assert [c.pk for c in compiled.fetch(cart_id=cart.pk)] == [cart.pk]
    assert "FOR UPDATE" in captured.captured_queries[-1]["sql"]


def test_a_big_integer_column_keeps_its_parameter_type(house):
    """Django hands a bigint column's value to psycopg as Int8; the compiled query does the same with
    each new value, so PostgreSQL sees one statement with one parameter type, prepared once."""
    def documents_of(order_id: int):
        from finance.models import Invoice
        return Invoice.objects.filter(order_id=order_id)

    compiled = CompiledQuery(documents_of)
    for order_id in (12, "13", 14, 15, 16, 17, 18):  # more runs than psycopg waits before preparing
        assert compiled.fetch(order_id=order_id) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT parameter_types::text[] FROM pg_prepared_statements "
                       "WHERE statement LIKE %s", ['%"finance_invoice"."order_id" = $1%'])
        assert cursor.fetchall() == [(["bigint"],)]


@pytest.fixture
def two_package_order(house):
    from tests.buying import cart_with, place

    first, second = OfferFactory(price=Decimal("4.00")), OfferFactory(price=Decimal("6.00"))  # two sellers
    third = OfferFactory(seller=first.seller, price=Decimal("2.00"))
    for offer in (first, second, third):
        stock(offer, 5)
    order = place(cart_with((first, 1), (second, 2), (third, 3))).order
    OrderDiscount.objects.create(order=order, position=2, label="Second", amount=Decimal("0.50"))
    OrderDiscount.objects.create(order=order, position=1, label="First", amount=Decimal("0.25"))
    return order


def _walk(order_or_packages) -> list:
    """Every object a task reads through the relations, as states."""
    packages = order_or_packages.packages.all() if isinstance(order_or_packages, Order) else order_or_packages
    return [(_state(p), [(_state(line), line.package is p) for line in p.lines.all()], p.order.pk)
            for p in packages]


def test_an_order_for_its_emails_is_what_the_orm_prefetch_gives(two_package_order):
    order = two_package_order
    orm = Order.objects.filter(pk=order.pk).prefetch_related(
        Prefetch("packages", queryset=Package.objects.order_by("id").prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("id")))), "discounts").first()
    with CaptureQueriesContext(connection) as captured:
        compiled = orders_selectors.order_for_email(order_id=order.pk)
        walked = _walk(compiled)
        discounts = [_state(d) for d in compiled.discounts.all()]
    assert len(captured.captured_queries) == 4  # order, packages, lines, discounts; walking reads nothing
    assert _state(compiled) == _state(orm)
    assert walked == _walk(orm)
    assert sorted(len(lines) for _p, lines, _o in walked) == [1, 2]  # two packages
    assert discounts == [_state(d) for d in orm.discounts.all()]
    assert [d["values"]["label"] for d in discounts] == ["First", "Second"]
    assert all(p.order is compiled for p in compiled.packages.all())
    assert orders_selectors.order_for_email(order_id=order.pk + 1000) is None


def test_an_orders_packages_with_lines_are_what_the_orm_prefetch_gives(two_package_order):
    order = two_package_order
    orm = list(Package.objects.select_related("order").prefetch_related("lines").filter(order_id=order.pk)
               .order_by("id"))
    with CaptureQueriesContext(connection) as captured:
        compiled = orders_selectors.order_packages_with_lines(order_id=order.pk)
        walked = _walk(compiled)
    assert len(captured.captured_queries) == 2  # packages with their order, lines
    assert walked == _walk(orm)
    assert [_state(p.order) for p in compiled] == [_state(p.order) for p in orm]
    assert orders_selectors.order_packages_with_lines(order_id=order.pk + 1000) == []
