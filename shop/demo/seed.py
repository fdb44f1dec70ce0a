"""Load the demo shop through the apps' services and bulk services. Idempotent.

Reference data (categories, brands, attributes, sellers, warehouses, shipping methods, demo
customers, the demo seller account) is found or created; product ``i`` is generated the same
way on every run (see :mod:`shop.demo.generate`) and skipped when its slug exists. Products are
loaded in chunks, each chunk in one transaction (offers, stock and its ledger, buy boxes, then
the products already listed, with their attributes, images and reviews), so an interrupted run
leaves whole chunks; any product left without a buy box (by an older version) is refreshed after.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from functools import partial
from typing import TypeVar

import time_machine
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import bulk as accounts_bulk
from accounts import selectors as accounts_selectors
from catalog import bulk as catalog_bulk
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from checkout import services as checkout_services
from core.exceptions import ApplicationError
from finance import selectors as finance_selectors
from finance import services as finance_services
from fulfillment import bulk as fulfillment_bulk
from fulfillment import carriers as fulfillment_carriers
from fulfillment import inbound as fulfillment_inbound
from fulfillment import purchasing as fulfillment_purchasing
from fulfillment import selectors as fulfillment_selectors
from fulfillment import services as fulfillment_services
from fulfillment import tracking as fulfillment_tracking
from marketplace import bulk as marketplace_bulk
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from membership import services as membership_services
from orders import selectors as orders_selectors
from orders import services as orders_services
from promotions import selectors as promotions_selectors
from promotions import services as promotions_services
from promotions.models import Deal, Promotion, Voucher
from shop.demo import data, images
from shop.demo.generate import DEFAULT_SEED, ProductPlan, product_plan, product_slug, when
from shop.strategy import Strategy, for_job

CUSTOMERS = 200
CUSTOMER_PASSWORD = "bazaar-demo-customer"  # noqa: S105 - published demo credentials
SELLER_EMAIL = "seller@bazaar.localhost"
SELLER_PASSWORD = "bazaar-demo-seller"  # noqa: S105 - published demo credentials
SELLER_OF_MEMBER = "northwind-traders"
BUY_BOX_BATCH = 1000

T = TypeVar("T")


@dataclass
class SeedResult:
    products_requested: int
    products_created: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    seller_email: str = SELLER_EMAIL
    seller_password: str = SELLER_PASSWORD
    seller_name: str = ""


@dataclass
class _Context:
    category_ids: dict[str, int]
    brand_ids: dict[str, int]
    attribute_ids: dict[str, int]
    sellers: dict[str, object]  # slug -> Seller ("" is the house seller)
    platform_warehouses: list[int]
    seller_warehouses: dict[int, int]  # seller id -> its location
    customer_ids: list[int]
    pool: dict[str, list[str]]
    thumbnails: dict[str, str]


def _sku_prefix(slug: str) -> str:
    return "".join(part[0] for part in slug.split("-") if part).upper() or "BZ"


def _reference_data(log: Callable[[str], None]) -> _Context:
    attribute_ids = catalog_bulk.attributes_ensure(attributes=data.ATTRIBUTES)
    specs = [catalog_bulk.CategorySpec(slug, name, parent, position=i) for i, (slug, name, parent) in
             enumerate(data.BRANCHES)]
    specs += [catalog_bulk.CategorySpec(leaf.slug, leaf.name, leaf.parent, position=i) for i, leaf in
              enumerate(data.LEAVES)]
    category_ids = catalog_bulk.categories_ensure(specs=specs)
    brand_names = sorted({b for family in data.FAMILIES.values() for b in family.brands})
    brand_ids = catalog_bulk.brands_ensure(brands=[(slugify(b), b, "") for b in brand_names])
    brand_ids = {name: brand_ids[slugify(name)] for name in brand_names}

    house = marketplace_selectors.house_seller()
    sellers = marketplace_bulk.sellers_ensure(specs=[
        marketplace_bulk.SellerSpec(
            slug=s.slug, name=s.name, email=f"{s.slug}@sellers.bazaar.localhost", description=s.description,
            rating=s.rating, rating_count=s.rating_count,
        )
        for s in data.SELLERS
    ])
    sellers[""] = house

    warehouse_specs = [
        fulfillment_bulk.WarehouseSpec(code=code, name=name, city=city, street=data.CENTRE_ADDRESSES[code][0],
                                       region=data.CENTRE_ADDRESSES[code][1],
                                       postal_code=data.CENTRE_ADDRESSES[code][2])
        for code, name, city in data.PLATFORM_WAREHOUSES
    ]
    warehouse_specs += [
        fulfillment_bulk.WarehouseSpec(
            code=f"{s.slug[:26]}-main", name=f"{s.name}, {s.city}", kind="seller", seller=sellers[s.slug], city=s.city
        )
        for s in data.SELLERS
    ]
    warehouses = fulfillment_bulk.warehouses_ensure(specs=warehouse_specs)
    S = fulfillment_bulk.ShippingSpec  # noqa: N806
    fulfillment_bulk.shipping_methods_ensure(specs=[
        S("platform-standard", "Free standard delivery", "platform", Decimal("0.00"), 3, 5),
        S("platform-express", "Express delivery", "platform", Decimal("7.99"), 1, 2),
        S("platform-one-day", "One-day delivery", "platform", Decimal("12.99"), 1, 1, members_only=True),
        S("merchant-standard", "Standard shipping", "merchant", Decimal("4.99"), 3, 6),
        S("merchant-express", "Express shipping", "merchant", Decimal("12.99"), 1, 3),
        S("standard", "Free standard shipping", "merchant", Decimal("0.00"), 4, 7, sellers["maple-and-main"]),
        S("express", "Next-day shipping", "merchant", Decimal("9.99"), 1, 1, sellers["maple-and-main"]),
    ])

    customers = [
        (f"customer{n + 1:03d}@demo.bazaar.localhost",
         f"{data.FIRST_NAMES[n % len(data.FIRST_NAMES)]} {data.LAST_NAMES[(n // 3) % len(data.LAST_NAMES)]}")
        for n in range(CUSTOMERS)
    ]
    customer_ids = accounts_bulk.users_bulk_ensure(users=customers, password=CUSTOMER_PASSWORD)
    log(f"reference data ready ({len(category_ids)} categories, {len(brand_ids)} brands, {len(sellers)} sellers)")

    pool, made = images.pool_ensure()
    all_names = [name for names in pool.values() for name in names]
    thumbnails = catalog_bulk.product_images_share_thumbnails(image_names=all_names)
    log(f"image pool ready ({len(all_names)} pictures, {made} made now)")
    return _Context(
        category_ids=category_ids, brand_ids=brand_ids, attribute_ids=attribute_ids, sellers=sellers,
        platform_warehouses=[warehouses[code].pk for code, _n, _c in data.PLATFORM_WAREHOUSES],
        seller_warehouses={warehouses[f"{s.slug[:26]}-main"].seller_id: warehouses[f"{s.slug[:26]}-main"].pk
                           for s in data.SELLERS},
        customer_ids=[customer_ids[email] for email, _name in customers], pool=pool, thumbnails=thumbnails,
    )


def _seller_account() -> str:
    sellers = {s.slug: s for s in marketplace_selectors.seller_list()}
    user, _created = accounts_bulk.user_ensure(email=SELLER_EMAIL, password=SELLER_PASSWORD, full_name="Demo Seller")
    target = sellers[SELLER_OF_MEMBER]
    if target.pk not in marketplace_selectors.seller_ids_for_user(user):
        marketplace_services.seller_member_add(seller=target, user=user, role="owner")
    return target.name


@dataclass
class _Chunk:
    """One chunk of products ready to write: every row built, every id taken (in chunk order, so
    ids do not depend on which writer gets there first)."""

    products: list[catalog_bulk.ProductRow]
    product_ids: list[int]
    offers: list[marketplace_bulk.OfferRow]
    offer_ids: list[int]
    stock: list[fulfillment_bulk.StockRow]
    stock_ids: list[int]
    blank_thumbnails: set[str]  # pictures whose rows were built before their shared thumbnail existed


def _prepare_chunk(ctx: _Context, plans: list[ProductPlan], timings: dict[str, float]) -> _Chunk:
    now = timezone.now()
    t = time.perf_counter()
    whens: dict[int, datetime] = {}  # days ago -> when (a few hundred values for thousands of rows)

    def ago(days: int) -> datetime:
        if days not in whens:
            whens[days] = when(now, days)
        return whens[days]

    products, blank = [], set()
    for plan in plans:
        pictures = ctx.pool[plan.leaf.slug]
        image_rows = []
        for choice in plan.image_choices:
            name = pictures[choice % len(pictures)]
            thumbnail = ctx.thumbnails.get(name, "")
            if not thumbnail:
                blank.add(name)
            image_rows.append((name, thumbnail, plan.title))
        products.append(catalog_bulk.ProductRow(
            title=plan.title, slug=plan.slug, category_id=ctx.category_ids[plan.leaf.slug],
            brand_id=ctx.brand_ids[plan.brand], description=plan.description, created_at=ago(plan.days_old),
            attributes={ctx.attribute_ids[code]: value for code, value in plan.attributes.items()},
            images=list(dict.fromkeys(image_rows)),
            reviews=[
                catalog_bulk.ReviewRow(
                    user_id=ctx.customer_ids[r.customer], rating=r.rating, title=r.title, body=r.body,
                    verified_purchase=r.verified, helpful_count=r.helpful,
                    created_at=ago(min(r.days_ago, plan.days_old)),
                )
                for r in plan.reviews
            ],
        ))
    product_ids = catalog_bulk.product_ids_reserve(count=len(plans))
    seller_ids = {slug: seller.pk for slug, seller in ctx.sellers.items()}
    prefixes = {slug: _sku_prefix(slug) for slug in ctx.sellers}
    offers, offer_plans = [], []
    for pid, plan in zip(product_ids, plans, strict=True):
        last = plan.slug.rsplit("-", 1)[-1]
        suffix = (last if last.isdigit() else plan.slug[-12:]).zfill(6)
        for offer in plan.offers:
            seller_id = seller_ids[offer.seller_slug]
            offers.append(marketplace_bulk.OfferRow(
                seller_id=seller_id, product_id=pid,
                sku=f"{prefixes[offer.seller_slug]}-{suffix}-{offer.condition[:4].upper()}",
                price=offer.price, list_price=offer.list_price, member_price=offer.member_price,
                condition=offer.condition,
                fulfillment_channel=offer.channel, handling_days=offer.handling_days,
            ))
            offer_plans.append((seller_id, offer))
    offer_ids = marketplace_bulk.offer_ids_reserve(count=len(offers))
    stock = []
    for offer_id, (seller_id, offer) in zip(offer_ids, offer_plans, strict=True):
        for slot, units in offer.stock:
            warehouse = ctx.platform_warehouses[slot] if slot >= 0 else ctx.seller_warehouses[seller_id]
            stock.append(fulfillment_bulk.StockRow(offer_id, seller_id, offer.channel, warehouse, units))
    chunk = _Chunk(
        products=products, product_ids=product_ids, offers=offers, offer_ids=offer_ids, stock=stock,
        stock_ids=fulfillment_bulk.stock_ids_reserve(count=len(stock)), blank_thumbnails=blank,
    )
    _tick(timings, "  rows and ids", t)
    return chunk


def _write_chunk(chunk: _Chunk) -> dict[str, float]:
    """Write one chunk in one transaction: offers, stock and buy boxes first, then the products
    already listed (no second write per product). Returns the time of each step."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with transaction.atomic():
        marketplace_bulk.offers_bulk_create(rows=chunk.offers, ids=chunk.offer_ids)
        t = _tick(timings, "  marketplace: offers", t)
        fulfillment_bulk.stock_bulk_receive(rows=chunk.stock, ids=chunk.stock_ids, reference="demo: initial stock")
        t = _tick(timings, "  fulfillment: stock and ledger", t)
        listings = marketplace_bulk.buy_boxes_bulk_create(product_ids=chunk.product_ids, inputs=for_job())
        t = _tick(timings, "  marketplace: buy boxes", t)
        catalog_bulk.products_bulk_create(rows=chunk.products, ids=chunk.product_ids, listings=listings)
        t = _tick(timings, "  catalog: products, attributes, images, reviews", t)
    _tick(timings, "  commit", t)
    return timings


class _Writers:
    """Write chunks on ``count`` threads at once, each with a database connection of its own
    (closed after each chunk), or in the calling thread when ``count`` is 0."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="seed-demo-writer") if count else None

    def submit(self, fn: Callable[..., T], *args) -> Future[T]:
        if self._pool is None:
            done: Future[T] = Future()
            done.set_result(fn(*args))
            return done
        return self._pool.submit(self._with_own_connection, fn, *args)

    @staticmethod
    def _with_own_connection(fn: Callable[..., T], *args) -> T:
        try:
            return fn(*args)
        finally:
            connections.close_all()  # this thread's connections

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # a chunk being written is finished, whole


def _missing_plans(
    *, products: int, seed: int, customers: int, existing: set[str], chunk_size: int,
) -> Iterator[tuple[list[ProductPlan], float]]:
    """The plans of the first ``products`` demo products whose slug is not in ``existing``, in
    chunks of ``chunk_size``, each with the seconds it took (a product already there costs only
    its slug)."""
    chunk: list[ProductPlan] = []
    t = time.perf_counter()
    for index in range(products):
        if existing and product_slug(index, seed) in existing:
            continue
        chunk.append(product_plan(index, seed, customers=customers))
        if len(chunk) >= chunk_size:
            yield chunk, time.perf_counter() - t
            chunk = []
            t = time.perf_counter()
    if chunk:
        yield chunk, time.perf_counter() - t


@contextmanager
def _in_background(make: Callable[[], Iterator[T]], *, depth: int, process: bool) -> Iterator[Iterator[T]]:
    """Iterate ``make()`` in the background, up to ``depth`` items ahead of the caller: in a
    forked process of its own (``process``), else in a thread.

    Generating plans is pure Python and touches no database, so it runs while the caller's
    chunks are written. In a thread it shares the GIL with the caller (enough while one chunk is
    written at a time: writing mostly waits for the database); a process does not, which matters
    once several writer threads keep the GIL busy. An error there is raised in the caller;
    leaving the block early stops the background work.
    """
    if process:
        context = multiprocessing.get_context("fork")
        handoff = context.Queue(maxsize=depth)
        worker = context.Process(target=_produce_into, args=(make, handoff.put), name="seed-demo-plans", daemon=True)
    else:
        handoff = queue.Queue(maxsize=depth)
        stop = threading.Event()

        def put(item: object) -> None:
            while not stop.is_set():
                try:
                    handoff.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            raise _Stopped

        worker = threading.Thread(target=_produce_into, args=(make, put), name="seed-demo-plans", daemon=True)

    def consume() -> Iterator[T]:
        while True:
            try:
                item = handoff.get(timeout=1)
            except queue.Empty:
                if worker.is_alive():
                    continue
                try:  # it may have put its last item just before it ended
                    item = handoff.get(timeout=1)
                except queue.Empty:
                    raise RuntimeError("The background generation of demo data stopped unexpectedly.") from None
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    worker.start()
    try:
        yield consume()
    finally:
        if process:
            if worker.is_alive():
                worker.terminate()
            worker.join()
            handoff.close()
        else:
            stop.set()
            worker.join()


def _produce_into(make: Callable[[], Iterator[object]], put: Callable[[object], None]) -> None:
    try:
        try:
            for item in make():
                put(item)
        except _Stopped:
            raise
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failure(exc))
        else:
            put(_End())
    except _Stopped:
        return


class _Stopped(Exception):
    """The consumer left: stop producing."""


@dataclass(frozen=True)
class _Failure:
    error: BaseException


@dataclass(frozen=True)
class _End:
    pass


def _tick(timings: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + now - since
    return now


def seed_demo(
    *, products: int = 500, seed: int = DEFAULT_SEED, log: Callable[[str], None] = lambda _msg: None,
    chunk_size: int | None = None, writers: int | None = None, events: int = 0, event_days: int = 30,
) -> SeedResult:
    """Make sure the first ``products`` demo products (and everything around them) exist.

    ``writers``: chunks written at once, each by a thread with its own connection (0: one after
    the other in this thread; default: 2 on PostgreSQL when not called inside a transaction).
    """
    started = time.perf_counter()
    result = SeedResult(products_requested=products, products_created=0, seconds=0)

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        result.timings.append((name, now - since))
        return now

    t = started
    ctx = _reference_data(log)
    result.seller_name = _seller_account()
    membership_services.plan_ensure_demo()
    t = step("reference data and images", t)

    existing = set(catalog_bulk.product_ids_by_slug())
    postgres = connection.vendor == "postgresql"
    chunk_size = chunk_size or (5000 if postgres else 1000)
    if writers is None:
        # Writers in threads of their own need PostgreSQL (SQLite writes one at a time) and a caller
        # outside a transaction (their connections would not see its uncommitted rows).
        writers = 2 if postgres and not connection.in_atomic_block else 0
    new_ids: list[int] = []
    generating = 0.0
    phases: dict[str, float] = {}
    plans = partial(_missing_plans, products=products, seed=seed, customers=len(ctx.customer_ids),
                    existing=existing, chunk_size=chunk_size)
    written: deque[tuple[_Chunk, Future[dict[str, float]]]] = deque()

    def finish_oldest() -> None:
        chunk, future = written.popleft()
        for name, seconds in future.result().items():
            phases[name] = phases.get(name, 0.0) + seconds
        new_ids.extend(chunk.product_ids)
        log(f"  {len(new_ids)} products loaded")
        _share_thumbnails(ctx, built_blank=chunk.blank_thumbnails)

    # A process of its own generates the plans when writers share this one's GIL (forked before
    # they start, and only where fork exists).
    process = writers > 0 and "fork" in multiprocessing.get_all_start_methods()
    with _in_background(plans, depth=2, process=process) as chunks, _Writers(writers) as pool:
        for plans_chunk, seconds in chunks:
            generating += seconds
            chunk = _prepare_chunk(ctx, plans_chunk, phases)
            written.append((chunk, pool.submit(_write_chunk, chunk)))
            while len(written) >= max(pool.count, 1):
                finish_oldest()
        while written:
            finish_oldest()
    result.products_created = len(new_ids)
    result.timings.append((f"generating product data (in a background {'process' if process else 'thread'})",
                           generating))
    result.timings += list(phases.items())
    t = step(f"products, offers, stock, buy boxes ({max(writers, 1)} writer(s))", t)
    log(f"{len(new_ids)} new products loaded")

    _demo_referral_fees()
    if _demo_seller_history(ctx):
        log("the demo seller's orders, ledger, health and payout made")
    if _demo_fulfilment():
        log("inbound shipments, product sizes and a purchase order made")
    if _demo_calendar():
        log("the centres' cutoffs and time zones, and a holiday calendar, set")
    # Products a stopped load of an older version left without a buy box (and the demo seller's
    # proposed product).
    to_refresh = marketplace_bulk.product_ids_without_buy_box()
    if to_refresh:
        winners = marketplace_bulk.buy_boxes_refresh_all(product_ids=to_refresh, inputs=for_job(),
                                                         batch_size=BUY_BOX_BATCH)
        log(f"buy boxes computed for {len(to_refresh)} products ({winners} with a winner)")
        t = step("buy boxes of products loaded without one", t)
    if new_ids or to_refresh:
        marketplace_bulk.offers_bulk_loaded()
        fulfillment_bulk.stock_bulk_loaded()
        catalog_bulk.catalog_bulk_loaded()
        t = step("vacuum and analyze, search dictionary", t)
    made = _demo_promotions()
    if made:
        log(f"{made} promotions and vouchers created")
    made = _lightning_deals()
    if made:
        log(f"{made} lightning deals started")
    t = step("lightning deals", t)
    if events:
        from shop.demo.traffic import seed_traffic  # insights' demo data (and the experiment), when asked for

        traffic = seed_traffic(events=events, days=event_days, seed=seed, log=log)
        log(f"{traffic['events']} shopper events over {event_days} days, rolled up; "
            f"{traffic['recommendations']} recommendations")
        t = step("shopper events, rollups and recommendations", t)
    else:
        from shop.demo.experiments import seed_experiments

        seed_experiments()

    result.counts = {
        **catalog_bulk.catalog_counts(), **marketplace_bulk.marketplace_counts(),
        **fulfillment_bulk.fulfillment_counts(), "users": accounts_bulk.user_count(),
    }
    step("counting", t)
    result.seconds = time.perf_counter() - started
    return result


DEMO_CARD = "4242424242424242"  # the test provider's card that pays
DEMO_ADDRESS = {"full_name": "Demo Buyer", "line1": "1 Market Street", "city": "Springfield", "postal_code": "12345",
                "country": "US"}


def _demo_seller_history(ctx: _Context) -> bool:
    """Once: six orders of the demo seller's offers (the seller the demo seller account owns),
    shipped; four delivered, two of them long enough ago for their reserve to be released, one
    of those refunded, one still in transit with a claim open; a product it proposed, waiting for
    review; then account health and a payout. So its seller centre, ledger, statements
    and health have something to show. Nothing when the seller has ledger entries already, has no
    offer in stock, or the payment provider is not the test one (no card to charge)."""
    seller = next((s for s in marketplace_selectors.seller_list() if s.slug == SELLER_OF_MEMBER), None)
    if seller is None or not ctx.customer_ids or finance_selectors.ledger_entries(seller_id=seller.pk).exists():
        return False
    offers = list(marketplace_selectors.offer_list(seller_slug=SELLER_OF_MEMBER).order_by("pk")[:30])
    available = fulfillment_selectors.available_by_offer(offer_ids=[o.pk for o in offers]) if offers else {}
    offers = [o for o in offers if available.get(o.pk, 0) >= 3][:3]
    buyer = accounts_selectors.user_by_pk(ctx.customer_ids[0])
    if not offers or buyer is None or settings.PAYMENT_PROVIDER != "test":
        return False
    now = timezone.now()
    for n, offer in enumerate(offers * 2):
        # Each order is lived through on its own days (the clock moved back, as if it happened
        # then): placed, shipped a day later, on its way two days, delivered; so every date on its
        # pages follows the one before it.
        arrives = now - timedelta(days=10 if n < 2 else 2) if n < 4 else None
        shipped = (arrives or now) - timedelta(days=2, hours=2)
        with time_machine.travel(shipped - timedelta(hours=20)):
            cart = checkout_services.cart_for_session(session={}, user=buyer, create=True)
            checkout_services.cart_add(cart=cart, offer_id=offer.pk, quantity=1)
            try:
                placed = checkout_services.order_place(
                    cart=cart, user=buyer, email=buyer.email, shipping_address=DEMO_ADDRESS,
                    payment_method=DEMO_CARD, idempotency_key=f"demo-seller-history-{n}", buyer=Strategy(user=buyer))
            except ApplicationError:
                return False
        for package in orders_selectors.order_packages_with_lines(order_id=placed.order.pk):
            if package.seller_id != seller.pk:
                continue
            with time_machine.travel(shipped):
                _demo_ship(package, n)
                finance_services.ledger_post_package_shipped(package_id=package.pk)  # as the worker would
            if arrives is not None:
                with time_machine.travel(arrives):
                    delivered = orders_services.package_deliver(
                        package=orders_selectors.package_with_lines(package_id=package.pk), now=arrives,
                        confirmed_by="staff" if package.fulfillment_channel == "merchant" else "carrier")
                if n == 1:
                    with time_machine.travel(arrives + timedelta(days=1)):
                        orders_services.order_refund(order=orders_selectors.order_get(pk=delivered.order_id),
                                                     reason="Demo: arrived damaged")
                        finance_services.ledger_post_order_refunded(order_id=delivered.order_id)
            _demo_timeline(package, arrives=arrives, now=now)
            if n == 5:  # shipped, still on its way: the buyer says it never came
                orders_services.claim_open(order=orders_selectors.order_get(pk=placed.order.pk), seller_id=seller.pk,
                                           user=buyer, reason="not_received",
                                           description="It left two days ago and the tracking has not moved since.")
    category = catalog_selectors.categories_by_ids(ids=[offers[0].product.category_id]).first()
    if category is not None:  # a product the seller proposed, waiting for Bazaar's review
        marketplace_services.product_propose(
            seller=seller, actor=None, title="Hand-thrown stoneware teapot, 0.8 l", category=category,
            description="Glazed inside and out; each one slightly different.", note="Made in our workshop.",
            sku="NW-TEAPOT-08", price=Decimal("48.00"))
    finance_services.ledger_release_reserves()
    finance_services.health_compute()
    finance_services.payout_run()
    return True


def _demo_ship(package, n: int) -> None:
    """Ship a demo package as its shipper would: the seller's own with UPS and a tracking number,
    one Bazaar fulfils with a label from the test carrier."""
    if package.fulfillment_channel == "merchant":
        orders_services.package_ship(package=package, tracking_number=f"1Z999DEMO{n:09d}", carrier_name="UPS")
        return
    orders_services.package_buy_label(package=package)
    orders_services.package_ship(package=orders_selectors.package_with_lines(package_id=package.pk))


def _demo_timeline(package, *, arrives, now) -> None:
    """The test carrier's tracking events of a demo package with a Bazaar label, in the past: up to
    "delivered" at ``arrives`` when it has arrived, to "in transit" when not (it was delivered
    already: the delivered event only adds to its timeline)."""
    shipment = orders_selectors.package_timelines(order=package.order).get(package.pk)
    if shipment is None:
        return
    left = (arrives or now) - timedelta(days=2)
    steps = [(left, "info_received", "Shipment information received", "Bazaar centre"),
             (left + timedelta(hours=3), "in_transit", "Departed the origin facility", "Bazaar centre"),
             (left + timedelta(hours=20), "in_transit", "Arrived at the destination hub", "Springfield hub")]
    if arrives is not None:
        steps += [(arrives - timedelta(hours=5), "out_for_delivery", "Out for delivery", "Springfield"),
                  (arrives, "delivered", "Delivered, front door", "Springfield")]
    fulfillment_tracking.tracking_apply(carrier_code=shipment.carrier, events_in=[
        fulfillment_carriers.CarrierEvent(f"{shipment.tracking_number}-demo-{i}", shipment.tracking_number, status,
                                          when, text, where)
        for i, (when, status, text, where) in enumerate(steps)])


def _demo_fulfilment() -> bool:
    """Once (nothing when the demo seller has inbound shipments already): the demo seller's offers
    fulfilled by Bazaar get a size, and inbound shipments in several states (draft, ready, shipped,
    receiving, closed with a shortage); a supplier of Bazaar's own offers with an ordered purchase
    order. Made through the services, as the seller and Bazaar's staff would."""
    seller = next((s for s in marketplace_selectors.seller_list() if s.slug == SELLER_OF_MEMBER), None)
    if seller is None or fulfillment_selectors.inbound_exists(seller_id=seller.pk):
        return False
    candidates = [o for o in marketplace_selectors.seller_offers(seller_id=seller.pk).order_by("pk")[:60]
                  if o.fulfilled_by_platform and o.is_active]
    in_stock = fulfillment_selectors.available_by_offer(offer_ids=[o.pk for o in candidates])
    fba = [o for o in candidates if in_stock.get(o.pk, 0) > 0][:4]  # never restock a product meant to be sold out
    if len(fba) < 2:
        return False
    sizes = [(Decimal("9"), Decimal("6"), Decimal("2"), Decimal("1.4")), (Decimal("14"), Decimal("10"),
             Decimal("6"), Decimal("4.2")), (Decimal("6"), Decimal("4"), Decimal("0.5"), Decimal("0.4")),
             (Decimal("24"), Decimal("16"), Decimal("12"), Decimal("18"))]
    for offer, (length, width, height, weight) in zip(fba, sizes, strict=False):
        catalog_services.product_size_set(product_id=offer.product_id, length_in=length, width_in=width,
                                          height_in=height, weight_lb=weight)
    plans = []
    for n, name in enumerate(("Spring restock (draft)", "Kettles for the holidays", "Winter top-up",
                              "Gift sets", "October shipment")):
        plans.append(fulfillment_inbound.inbound_create(
            seller=seller, actor=None, name=name, box_count=1 + n % 3,
            items=[(offer, 6 + 3 * k + n) for k, offer in enumerate(fba[:2 + n % 2])]))
    for shipment in plans[1:]:
        fulfillment_inbound.inbound_ready(shipment=shipment, actor=None)
    for shipment in plans[2:]:
        fulfillment_inbound.inbound_ship(shipment=shipment, actor=None, carrier="UPS",
                                         tracking_number=f"1ZDEMOIN{shipment.pk:05d}")
    for shipment in plans[3:]:
        items = list(shipment.items.all())
        fulfillment_inbound.inbound_receive(shipment=shipment, actor=None, counts={
            item.pk: item.quantity - (1 if k == 0 else 0) for k, item in enumerate(items)})
    fulfillment_inbound.inbound_close(shipment=plans[4], actor=None)  # one unit short: a discrepancy
    house = list(marketplace_selectors.offer_list(seller_slug=marketplace_selectors.HOUSE_SELLER_SLUG)
                 .order_by("pk")[:3])
    if house:
        supplier = fulfillment_purchasing.supplier_ensure(name="Acme Wholesale", lead_time_days=10,
                                                          email="orders@acme-wholesale.example")
        for offer in house:
            cost = (offer.price * Decimal("0.55")).quantize(Decimal("0.01"))
            fulfillment_purchasing.supplier_offer_set(supplier=supplier, offer=offer, unit_cost=cost)
        plans[1].refresh_from_db()
        centre = plans[1].warehouse
        if centre is not None:
            order = fulfillment_purchasing.po_create(
                supplier=supplier, warehouse=centre, actor=None,
                lines=[(offer, 24, (offer.price * Decimal("0.55")).quantize(Decimal("0.01"))) for offer in house])
            fulfillment_purchasing.po_order(order=order, actor=None)
    return True


def _demo_calendar() -> bool:
    """Once (nothing when a holiday exists): the centres' time zones and cutoffs, and holidays."""
    if fulfillment_selectors.holidays_exist():
        return False
    for warehouse in fulfillment_selectors.platform_warehouses():
        clock = data.CENTRE_CLOCKS.get(warehouse.code)
        if clock is not None:
            warehouse.time_zone, warehouse.cutoff = clock[0], clock_time.fromisoformat(clock[1])
            fulfillment_services.warehouse_save(warehouse=warehouse)
    for day, name, carrier in data.HOLIDAYS:
        fulfillment_services.holiday_add(day=date.fromisoformat(day), name=name, carrier=carrier)
    return True


# Referral fees by category (the rule for every category, 15%, comes from a migration).
DEMO_REFERRAL_FEES = {"electronics": Decimal("8.00"), "computers": Decimal("6.00"), "clothing": Decimal("17.00")}


def _demo_referral_fees() -> None:
    """Once: a category that has a rule already (staff may have changed it) keeps it."""
    tree = catalog_selectors.category_tree()
    rules = finance_selectors.fee_schedule().rules
    for slug, percent in DEMO_REFERRAL_FEES.items():
        node = tree.get(slug)
        if node is not None and (node.id, None) not in rules:
            finance_services.referral_fee_rule_set(category_id=node.id, seller_id=None, percent=percent,
                                                   minimum_per_unit=Decimal("0.30"))


def _demo_promotions() -> int:
    """A welcome voucher, an automatic promotion on books and one for members (once, by name)."""
    made = 0
    if not Voucher.objects.filter(code="WELCOME10").exists():
        promotions_services.voucher_save(voucher=Voucher(
            code="WELCOME10", label="Welcome: 10% off", kind=Voucher.Kind.PERCENT, value=Decimal("10"),
            minimum_spend=Decimal("25"), max_uses_per_customer=1,
        ))
        made += 1
    tree = catalog_selectors.category_tree()
    books = tree.by_slug.get("books")
    electronics = tree.by_slug.get("electronics")
    specs = [
        ("Books: spend $50, save 10%", "Spend $50 on Books, save 10%", books, Decimal("50"), False),
        ("Members: 5% off electronics", "Members save 5% on Electronics", electronics, Decimal("0"), True),
    ]
    for name, label, category_id, min_spend, members in specs:
        if category_id is None or Promotion.objects.filter(name=name).exists():
            continue
        promotions_services.promotion_save(
            promotion=Promotion(name=name, label=label, benefit=Promotion.Benefit.PERCENT_OFF,
                                value=Decimal("5") if members else Decimal("10"), min_spend=min_spend,
                                members_only=members),
            categories=[category_id],
        )
        made += 1
    return made


# Demo lightning deals on house offers in stock: (hours until the end, percent off, units, limit
# per order, members only).
DEMO_DEALS = ((6, 25, 40, 2, False), (26, 30, 25, None, False), (50, 20, 60, 3, False), (30, 35, 15, 1, True))


def _lightning_deals() -> int:
    """A few live lightning deals (one for members), made through the promotions service. An offer
    that already has a running or upcoming deal is left alone, so a second run adds nothing while
    the demo deals last (and starts new ones once they have ended)."""
    house_offers = list(marketplace_selectors.offer_list(seller_slug=marketplace_selectors.HOUSE_SELLER_SLUG)[:200])
    available = fulfillment_selectors.available_by_offer(offer_ids=[o.pk for o in house_offers])
    candidates = [o for o in house_offers if available.get(o.pk, 0) > 0 and o.price >= Decimal("5")]
    candidates = candidates[: len(DEMO_DEALS)]
    taken = promotions_selectors.deal_offer_ids()
    if taken & {o.pk for o in candidates}:
        return 0  # the demo deals are still running
    now = timezone.now()
    made = 0
    for offer, (hours, percent, cap, limit, members) in zip(candidates, DEMO_DEALS, strict=False):
        price = (offer.price * (100 - percent) / 100).quantize(Decimal("0.01"))
        promotions_services.deal_save(deal=Deal(
            offer=offer, label="Members' lightning deal" if members else "", deal_price=price,
            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=hours), quantity_cap=cap,
            per_order_limit=limit, members_only=members,
        ))
        made += 1
    return made


def _share_thumbnails(ctx: _Context, *, built_blank: set[str]) -> None:
    """After a chunk is written: give every picture of the pool that has rows its shared
    thumbnail, and the rows of ``built_blank`` (built before theirs existed) theirs."""
    names = {name for names in ctx.pool.values() for name in names if name not in ctx.thumbnails} | built_blank
    if names:
        ctx.thumbnails.update(catalog_bulk.product_images_share_thumbnails(image_names=sorted(names)))
