"""Synthetic shopper traffic with structure: demo data that has something true to find.

``generate_events(catalog, TrafficOptions(...))`` turns a catalog of (product_id, category_id, price),
or (product_id, category_id, price, seller_id) with the seller whose offer a product page features,
into the events of a shop's visitors over a period, in the names and properties of Segment's
Ecommerce v2 spec. The same catalog and options (the seed among them) give the same events, ids
included. What is built in, so recommendations, KPIs and experiments have a signal:

- Popularity: categories and, within a category, products follow Zipf-like laws (a few sell a lot).
- Personas: each visitor prefers 1-3 categories and a price band (budget, middle, premium within the
  category) and mostly browses and buys there.
- Complements: fixed pairs and triples of products (within or across categories) are often bought in
  the same order, and a customer who bought part of one often comes back for the rest.
- Visitors: one-off visitors, occasional ones and regulars who come back over weeks; a share sign up
  (``user_id`` is set from their "Signed Up" event on, same ``visitor_id``); some use the app
  (channel "api"); a few are crawlers (``is_bot``) that only view pages.
- Sessions: more than 30 minutes apart (``SESSION_GAP``), events within one a few seconds to a few
  minutes apart; more in the evening than at night.
- Funnel: product list viewed -> product clicked -> product viewed -> product added -> cart viewed ->
  checkout started -> checkout steps 1, 2, 3 completed -> order completed, with drop-off at every
  step: 3-4% of human sessions order and about 70% of carts are abandoned. Some products are
  removed from the cart; some searches find nothing.

Each event is a plain dict::

    {"event_id": "uuid4 string", "name": "Order Completed", "occurred_at": aware UTC datetime,
     "visitor_id": "uuid4 string", "user_id": "user-00042" or None, "device": "desktop" | "mobile" |
     "tablet", "channel": "web" | "api", "user_agent": "...", "is_bot": False, "properties": {...}}

Money in properties is a string with two decimals ("19.99"). "Order Completed" carries order_id,
checkout_id, currency, subtotal (sum of the lines), discount (and coupon when used), shipping, tax,
total = subtotal - discount + shipping + tax, revenue = subtotal - discount (Segment's: no shipping or
tax) and products [{product_id, category, price, quantity}]. With a featured seller in the catalog, every
product in properties also carries its ``seller_id`` (as the shop's own product views and order lines do),
so sellers' slices of the KPIs have views and orders.

Pure standard library, no Django: the demo seeder and the tests call it, and ``purchases_from_events``
/ ``orders_from_events`` feed ``insights.recommend``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SESSION_GAP = timedelta(minutes=30)

PRODUCT_LIST_VIEWED = "Product List Viewed"
PRODUCT_CLICKED = "Product Clicked"
PRODUCT_VIEWED = "Product Viewed"
PRODUCTS_SEARCHED = "Products Searched"
PRODUCT_ADDED = "Product Added"
PRODUCT_REMOVED = "Product Removed"
CART_VIEWED = "Cart Viewed"
CHECKOUT_STARTED = "Checkout Started"
CHECKOUT_STEP_COMPLETED = "Checkout Step Completed"
ORDER_COMPLETED = "Order Completed"
SIGNED_UP = "Signed Up"
BOT_EVENTS = frozenset({PRODUCT_LIST_VIEWED, PRODUCT_VIEWED})  # all a crawler does

CENT = Decimal("0.01")
UUID_RANDOM_BITS = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)  # all but version and variant
UUID_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
LIST_PAGE_SIZE = 12

# Kinds of human visitor (regulars are TrafficOptions.regular_share, occasional visitors OCCASIONAL_SHARE, the rest
# one-off) and the chance that one of their sessions is a purchase trip
ONE_OFF, OCCASIONAL, REGULAR = "one-off", "occasional", "regular"
OCCASIONAL_SHARE = 0.3
PURCHASE_INTENT = {ONE_OFF: 0.012, OCCASIONAL: 0.03, REGULAR: 0.055}
REGULAR_VISITS_PER_DAY = (0.8, 1.7)  # a regular's visits a day, from one to the other

# Funnel probabilities (tuned with the above for 3-4% of human sessions ordering and ~70% of carts abandoned)
BOUNCE = 0.38  # a browsing session that sees one page
SEARCH = 0.25  # a session that starts with a search
ZERO_RESULTS = 0.07  # a search that finds nothing
MORE_VIEWS = 0.55  # after viewing a product, view another
OTHER_CATEGORY = 0.15  # the next product viewed is from another category
BROWSE_ADD = 0.12  # a browsing session puts something in the cart
COMPLEMENT_ADDED = 0.5  # a product's complement goes into the same order
COMPLETE_THE_SET = 0.5  # a purchase trip is for the missing part of a complement bought before
SECOND_ITEM = 0.15  # a purchase trip adds an unrelated second product
CHANGED_MIND = 0.12  # a product added and then removed
CART_VIEW = 0.65
CHECKOUT_START = {True: 0.88, False: 0.2}  # by purchase intent
CHECKOUT_STEP = {True: (0.95, 0.93, 0.94), False: (0.5, 0.3, 0.0)}
ORDER_PLACED = 0.97  # after step 3
PREFERRED = 0.92  # a product is looked for in one of the visitor's preferred categories
WELCOME_COUPON = ("WELCOME10", Decimal("0.10"))  # share off a new member's first order
SEASONAL_COUPON = ("SAVE5", Decimal("5.00"), Decimal("40.00"))  # amount off, from a subtotal of

CATEGORY_ZIPF = 0.6  # exponent of the categories' popularity law
PRODUCT_ZIPF = 0.8  # exponent of the products' popularity law within a category
TASTES = ((0.7, 0.25, 0.05), (0.2, 0.6, 0.2), (0.05, 0.25, 0.7))  # weight of each price band, by taste
HOUR_WEIGHTS = (1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 4.0,
                4.5, 4.5, 4.0, 4.0, 4.2, 4.8, 5.5, 6.5, 7.0, 6.5, 4.5, 2.5)
HOUR_CUMULATIVE = tuple(itertools.accumulate(HOUR_WEIGHTS))
WEB_DEVICES = (("desktop", 0.5), ("mobile", 0.42), ("tablet", 0.08))
APP_DEVICES = (("mobile", 0.85), ("tablet", 0.15))
USER_AGENTS = {
    ("web", "desktop"): (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 "
        "Edg/124.0",
    ),
    ("web", "mobile"): (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile "
        "Safari/537.36",
    ),
    ("web", "tablet"): (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    ),
    ("api", "mobile"): ("BazaarApp/3.2.0 (iOS 17.4; iPhone15,3)", "BazaarApp/3.2.0 (Android 14; Pixel 8)"),
    ("api", "tablet"): ("BazaarApp/3.2.0 (iPadOS 17.4; iPad13,4)",),
}
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
)
SEARCH_WORDS = (
    "lamp", "mug", "sneakers", "backpack", "headphones", "blender", "jacket", "notebook", "watch", "pillow",
    "charger", "sunglasses", "kettle", "yoga mat", "wallet", "speaker", "plant pot", "scarf", "puzzle", "drill",
)
SEARCH_QUALIFIERS = ("black", "small", "wireless", "cheap", "gift", "large", "organic", "leather")
MISSPELLINGS = ("hedphnoes", "blendr pro max", "qwerty", "sneekrs xl", "lampp", "kettel 2l")


@dataclass(frozen=True, kw_only=True)
class TrafficOptions:
    """What to generate. ``visitors`` counts distinct visitor ids, crawlers included."""

    visitors: int = 2000
    days: int = 30
    start: date = date(2025, 1, 6)  # a Monday; the events run from its midnight UTC for ``days`` days
    seed: int = 0
    member_share: float = 0.3  # human visitors who sign up at some point (regulars more often)
    bot_share: float = 0.02  # visitors that are crawlers
    api_share: float = 0.15  # human visitors on the app (channel "api") rather than the website
    regular_share: float = 0.2  # human visitors who come back several times a week
    currency: str = "USD"
    tax_rate: Decimal = Decimal("0.08")
    shipping_fee: Decimal = Decimal("4.99")
    free_shipping_from: Decimal = Decimal("50.00")  # on subtotal - discount


@dataclass
class Session:
    """One visit: a visitor's events with less than ``SESSION_GAP`` between consecutive ones."""

    visitor_id: str
    is_bot: bool
    events: list[dict[str, Any]]

    @property
    def started_at(self) -> datetime:
        return self.events[0]["occurred_at"]

    @property
    def ended_at(self) -> datetime:
        return self.events[-1]["occurred_at"]


def generate_events(catalog: Iterable[tuple[Any, Any, Decimal]], options: TrafficOptions | None = None
                    ) -> Iterator[dict[str, Any]]:
    """The events of ``generate_sessions``, all visitors together, sorted by ``occurred_at``.

    A visitor's events are in their own order too (their times strictly increase). Everything is
    generated before the first event is yielded (about 1 KB per event).
    """
    events = [event for session in generate_sessions(catalog, options) for event in session.events]
    events.sort(key=lambda event: event["occurred_at"])  # stable: ties keep the generation order
    yield from events


def generate_sessions(catalog: Iterable[tuple[Any, Any, Decimal]], options: TrafficOptions | None = None
                      ) -> list[Session]:
    """The visits of ``options.visitors`` visitors, visitor by visitor, each visitor's in time order."""
    return _Simulation(list(catalog), options or TrafficOptions()).run()


def purchases_from_events(events: Iterable[dict[str, Any]], *, stitch: bool = True) -> list[tuple[Any, Any, datetime]]:
    """(customer, product_id, occurred_at) for every product of every "Order Completed".

    The customer is the event's user id, or else the visitor id. With ``stitch``, a visitor's orders
    from before they signed up are credited to the user they became (identity resolution, as an
    analytics tool's alias call does), so one person is one customer.
    """
    events = list(events)
    user_of = {event["visitor_id"]: event["user_id"] for event in events if event["user_id"]} if stitch else {}
    purchases = []
    for event in events:
        if event["name"] != ORDER_COMPLETED:
            continue
        customer = event["user_id"] or user_of.get(event["visitor_id"]) or event["visitor_id"]
        for line in event["properties"]["products"]:
            purchases.append((customer, line["product_id"], event["occurred_at"]))
    return purchases


def orders_from_events(events: Iterable[dict[str, Any]]) -> list[list[Any]]:
    """The product ids of each "Order Completed", for ``recommend.bought_together``."""
    return [[line["product_id"] for line in event["properties"]["products"]]
            for event in events if event["name"] == ORDER_COMPLETED]


def _money(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True, eq=False)  # one object per product: compared and hashed by identity
class _Product:
    product_id: Any
    category: Any
    price: Decimal
    band: int  # 0, 1, 2: the cheapest, middle and dearest third of its category
    price_text: str = ""
    seller: Any = None  # the seller of the offer its page features, when the catalog says

    def line(self, **extra: Any) -> dict[str, Any]:
        line = {"product_id": self.product_id, "category": self.category, "price": self.price_text, **extra}
        if self.seller is not None:
            line["seller_id"] = self.seller
        return line


@dataclass
class _Visitor:
    visitor_id: str
    kind: str  # ONE_OFF, OCCASIONAL, REGULAR or "bot"
    device: str
    channel: str
    user_agent: str
    categories: list[Any] = field(default_factory=list)  # preferred, most preferred first
    category_cumulative: list[float] = field(default_factory=list)
    taste: int = 1  # index in TASTES
    intent: float = 0.0
    user_id: str | None = None  # set when chosen as a member; appears on events from the sign-up on
    signed_up: bool = False
    bought: set[Any] = field(default_factory=set)
    orders: int = 0

    @property
    def is_bot(self) -> bool:
        return self.kind == "bot"


class _Writer:
    """Appends one session's events, moving the clock on after each."""

    def __init__(self, simulation: _Simulation, visitor: _Visitor, at: datetime):
        self.simulation = simulation
        self.visitor = visitor
        self.at = at
        self.user_id = visitor.user_id if visitor.signed_up else None
        self.events: list[dict[str, Any]] = []

    def emit(self, name: str, properties: dict[str, Any], pause: float | None = None) -> None:
        visitor = self.visitor
        self.events.append({
            "event_id": self.simulation.uuid(),
            "name": name,
            "occurred_at": self.at,
            "visitor_id": visitor.visitor_id,
            "user_id": self.user_id,
            "device": visitor.device,
            "channel": visitor.channel,
            "user_agent": visitor.user_agent,
            "is_bot": visitor.is_bot,
            "properties": properties,
        })
        self.at += timedelta(seconds=pause if pause is not None else self.simulation.pause())


class _Simulation:
    def __init__(self, catalog: list[tuple[Any, Any, Decimal]], options: TrafficOptions):
        if not catalog:
            raise ValueError("the catalog is empty")
        if options.visitors < 0 or options.days < 1:
            raise ValueError("visitors must be at least 0 and days at least 1")
        self.options = options
        self.rng = random.Random(options.seed)
        self.begin = datetime(options.start.year, options.start.month, options.start.day, tzinfo=UTC)
        self.end = self.begin + timedelta(days=options.days)
        self.order_numbers = itertools.count(1)
        self.user_numbers = itertools.count(1)
        self._build_catalog(catalog)
        self._build_complements()

    # The catalog: popularity, price bands, complements, search words ---------------------------

    def _build_catalog(self, catalog: list[tuple[Any, Any, Decimal]]) -> None:
        rng = self.rng
        by_category: dict[Any, list[tuple[Any, Decimal, Any]]] = {}
        for product_id, category, price, *seller in catalog:
            by_category.setdefault(category, []).append((product_id, Decimal(price), seller[0] if seller else None))
        self.categories = list(by_category)  # catalog order, then shuffled into popularity order
        rng.shuffle(self.categories)
        self.category_cumulative = list(itertools.accumulate(_zipf(len(self.categories), CATEGORY_ZIPF)))
        self.products: dict[Any, _Product] = {}
        self.ranked: dict[Any, list[_Product]] = {}  # by category, best seller first
        self.pages: dict[Any, list[dict[str, Any]]] = {}  # by category, its first list page
        self.positions: dict[Any, int] = {}  # a product's place in its category's list, from 1
        self.choice: dict[tuple[Any, int], tuple[list[_Product], list[float]]] = {}  # (category, taste)
        self.words: dict[Any, str] = {}
        for index, category in enumerate(self.categories):
            entries = by_category[category]
            by_price = sorted(range(len(entries)), key=lambda i: entries[i][1])
            band = {position: rank * 3 // len(entries) for rank, position in enumerate(by_price)}
            products = [_Product(product_id, category, price, band[i], _money(price), seller)
                        for i, (product_id, price, seller) in enumerate(entries)]
            rng.shuffle(products)
            self.ranked[category] = products
            self.positions.update((product.product_id, position) for position, product in enumerate(products, 1))
            self.pages[category] = [product.line(position=position)
                                    for position, product in enumerate(products[:LIST_PAGE_SIZE], 1)]
            self.products.update((product.product_id, product) for product in products)
            weights = _zipf(len(products), PRODUCT_ZIPF)
            for taste, band_weights in enumerate(TASTES):
                cumulative = list(itertools.accumulate(
                    weight * band_weights[product.band] for weight, product in zip(weights, products, strict=True)))
                self.choice[category, taste] = (products, cumulative)
            word = SEARCH_WORDS[index % len(SEARCH_WORDS)]
            self.words[category] = word if index < len(SEARCH_WORDS) else f"{word} {index // len(SEARCH_WORDS) + 1}"

    def _build_complements(self) -> None:
        """About one product in twelve anchors a pair or triple; anchors lean to the best sellers."""
        rng = self.rng
        self.group_of: dict[Any, tuple[Any, ...]] = {}
        for _ in range(max(1, len(self.products) // 12)):
            anchor = self.product_for(None, self.category_from(self.category_cumulative))
            if anchor.product_id in self.group_of:
                continue
            group = [anchor]
            for _ in range(2 if rng.random() < 0.3 else 1):
                for _attempt in range(20):
                    category = anchor.category if rng.random() < 0.5 else self.category_from(self.category_cumulative)
                    mate = self.product_for(None, category)
                    if mate.product_id not in self.group_of and mate not in group:
                        group.append(mate)
                        break
            if len(group) > 1:
                ids = tuple(product.product_id for product in group)
                self.group_of.update((product_id, ids) for product_id in ids)

    def category_from(self, cumulative: list[float], categories: list[Any] | None = None) -> Any:
        categories = categories if categories is not None else self.categories
        return categories[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    def category_for(self, visitor: _Visitor) -> Any:
        if visitor.categories and self.rng.random() < PREFERRED:
            return self.category_from(visitor.category_cumulative, visitor.categories)
        return self.category_from(self.category_cumulative)

    def product_for(self, visitor: _Visitor | None, category: Any) -> _Product:
        products, cumulative = self.choice[category, visitor.taste if visitor else 1]
        return products[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    # Small random things -------------------------------------------------------------------------

    def uuid(self) -> str:
        """A random (version 4) UUID from the seeded generator, as str(uuid.UUID(int=..., version=4)) spells it."""
        digits = f"{self.rng.getrandbits(128) & UUID_RANDOM_BITS | UUID_VERSION_4:032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"

    def pause(self) -> float:
        """Seconds between two events of a human session: half a second to 15 minutes, typically 20 s
        (log-logistic, a long-tailed law for time on a page, drawn by inverting its distribution)."""
        draw = self.rng.random()
        return min(900.0, 0.5 + 20 * math.sqrt(draw / (1 - draw)))

    def pick(self, weighted: Sequence[tuple[str, float]]) -> str:
        return self.rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]

    def moment(self, first_day: float, last_day: float) -> datetime:
        """A time on a day between the two offsets (in days from the start), evenings likelier, weekends a
        little likelier than weekdays."""
        rng = self.rng
        while True:
            day = int(rng.uniform(first_day, last_day))
            if (self.begin + timedelta(days=day)).weekday() >= 5 or rng.random() < 0.8:
                break
        hour = bisect.bisect(HOUR_CUMULATIVE, rng.random() * HOUR_CUMULATIVE[-1])
        return self.begin + timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))

    # Visitors ----------------------------------------------------------------------------------

    def run(self) -> list[Session]:
        rng, options = self.rng, self.options
        bots = set(rng.sample(range(options.visitors), round(options.visitors * options.bot_share)))
        visitors = [self._bot() if index in bots else self._human() for index in range(options.visitors)]
        self._choose_members([visitor for visitor in visitors if not visitor.is_bot])
        sessions = []
        for visitor in visitors:
            sessions.extend(self._sessions_of(visitor))
        return sessions

    def _bot(self) -> _Visitor:
        return _Visitor(self.uuid(), "bot", "desktop", "web", self.rng.choice(BOT_USER_AGENTS))

    def _human(self) -> _Visitor:
        rng, options = self.rng, self.options
        draw = rng.random()
        kind = REGULAR if draw < options.regular_share else (
            OCCASIONAL if draw < options.regular_share + OCCASIONAL_SHARE else ONE_OFF)
        channel = "api" if rng.random() < options.api_share else "web"
        device = self.pick(APP_DEVICES if channel == "api" else WEB_DEVICES)
        visitor = _Visitor(self.uuid(), kind, device, channel, rng.choice(USER_AGENTS[channel, device]))
        count = min(len(self.categories), rng.choices((1, 2, 3), (0.35, 0.4, 0.25))[0])
        while len(visitor.categories) < count:
            category = self.category_from(self.category_cumulative)
            if category not in visitor.categories:
                visitor.categories.append(category)
        visitor.category_cumulative = list(itertools.accumulate((1.0, 0.6, 0.35)[:count]))
        visitor.taste = rng.choices((0, 1, 2), (0.35, 0.4, 0.25))[0]
        visitor.intent = PURCHASE_INTENT[kind] * rng.uniform(0.5, 1.5)
        return visitor

    def _choose_members(self, humans: list[_Visitor]) -> None:
        """Exactly round(member_share * humans) members, regulars four and occasional visitors two times
        likelier than one-off visitors (weighted sampling without replacement: the largest u^(1/w))."""
        weight = {REGULAR: 4.0, OCCASIONAL: 2.0, ONE_OFF: 1.0}
        keyed = sorted(((self.rng.random() ** (1 / weight[visitor.kind]), index)
                        for index, visitor in enumerate(humans)), reverse=True)
        for _, index in keyed[:round(len(humans) * self.options.member_share)]:
            humans[index].user_id = f"user-{next(self.user_numbers):05d}"

    def _planned_starts(self, visitor: _Visitor) -> list[datetime]:
        rng, days = self.rng, self.options.days
        if visitor.is_bot:
            arrival = rng.uniform(0, days)
            return sorted(self.moment(arrival, min(days, arrival + 7)) for _ in range(rng.randint(1, 4)))
        if visitor.kind == REGULAR:
            arrival = rng.uniform(0, days * 0.2)
            count = max(3, round((days - arrival) * rng.uniform(*REGULAR_VISITS_PER_DAY)))
            window = (arrival, days)
        elif visitor.kind == OCCASIONAL:
            arrival = rng.uniform(0, days)
            count = rng.randint(2, 6)
            window = (arrival, min(days, arrival + rng.uniform(10, 45)))
        else:
            arrival = rng.uniform(0, days)
            count = 2 if rng.random() < 0.25 else 1
            window = (arrival, min(days, arrival + 3))
        return sorted(self.moment(*window) for _ in range(count))

    def _sessions_of(self, visitor: _Visitor) -> list[Session]:
        rng = self.rng
        starts = self._planned_starts(visitor)
        intents = [rng.random() < visitor.intent for _ in starts]
        sign_up_at = None
        if visitor.user_id:  # at the first purchase trip (to check out as a member) or early on
            if any(intents) and rng.random() < 0.6:
                sign_up_at = intents.index(True)
            else:
                sign_up_at = int(len(starts) * rng.random() ** 2)
        sessions: list[Session] = []
        free_from = self.begin
        for index, (start, intent) in enumerate(zip(starts, intents, strict=True)):
            start = max(start, free_from)
            if start >= self.end:
                break
            if visitor.is_bot:
                events = self._bot_session(visitor, start)
            else:
                events = self._human_session(visitor, start, intent=intent, sign_up=index == sign_up_at)
            events = [event for event in events if event["occurred_at"] < self.end]
            if events:
                sessions.append(Session(visitor.visitor_id, visitor.is_bot, events))
                free_from = events[-1]["occurred_at"] + SESSION_GAP + timedelta(minutes=rng.uniform(1, 240))
        return sessions

    # Sessions ----------------------------------------------------------------------------------

    def _bot_session(self, visitor: _Visitor, start: datetime) -> list[dict[str, Any]]:
        """A crawl: category pages and product pages in no human order, a second or so apart."""
        rng = self.rng
        writer = _Writer(self, visitor, start)
        for _ in range(rng.randint(15, 80)):
            category = rng.choice(self.categories)
            pause = rng.uniform(0.3, 4.0)
            if rng.random() < 0.3:
                writer.emit(PRODUCT_LIST_VIEWED, self._list_properties(f"category-{category}", category), pause)
            else:
                writer.emit(PRODUCT_VIEWED, rng.choice(self.ranked[category]).line(), pause)
        return writer.events

    def _list_properties(self, list_id: str, category: Any) -> dict[str, Any]:
        """A category's first page, best sellers first (fresh dicts: events share nothing)."""
        return {"list_id": list_id, "category": category, "products": [dict(line) for line in self.pages[category]]}

    def _targets(self, visitor: _Visitor) -> list[_Product]:
        """What a purchase trip is for: a product (the rest of a complement bought before, or one from
        the visitor's categories and price band), often its complements, sometimes a second product."""
        rng = self.rng
        main = None
        missing = sorted({mate for product_id in visitor.bought for mate in self.group_of.get(product_id, ())}
                         - visitor.bought, key=str)
        if missing and rng.random() < COMPLETE_THE_SET:
            main = self.products[rng.choice(missing)]
        for _attempt in range(5):
            if main is not None and main.product_id not in visitor.bought:
                break
            main = self.product_for(visitor, self.category_for(visitor))
        targets = [main]
        for mate in self.group_of.get(main.product_id, ()):
            if mate != main.product_id and mate not in visitor.bought and rng.random() < COMPLEMENT_ADDED:
                targets.append(self.products[mate])
        if rng.random() < SECOND_ITEM:
            second = self.product_for(visitor, self.category_for(visitor))
            if second not in targets and second.product_id not in visitor.bought:
                targets.append(second)
        return targets

    def _human_session(self, visitor: _Visitor, start: datetime, *, intent: bool, sign_up: bool
                       ) -> list[dict[str, Any]]:
        rng = self.rng
        writer = _Writer(self, visitor, start)
        targets = self._targets(visitor) if intent else []
        category = targets[0].category if targets else self.category_for(visitor)
        if not intent and not sign_up and rng.random() < BOUNCE:
            if rng.random() < 0.6:
                writer.emit(PRODUCT_LIST_VIEWED, self._list_properties(f"category-{category}", category))
            else:  # straight to a product page, from a search engine or an ad
                writer.emit(PRODUCT_VIEWED, self.product_for(visitor, category).line())
            return writer.events

        viewed: list[_Product] = []
        list_id = self._search(writer, category) if rng.random() < SEARCH else None
        if list_id == "" and not intent:
            return writer.events  # found nothing, left
        while True:
            list_id = list_id or f"category-{category}"
            writer.emit(PRODUCT_LIST_VIEWED, self._list_properties(list_id, category))
            product = targets[len(viewed)] if len(viewed) < len(targets) else self.product_for(visitor, category)
            position = self.positions[product.product_id]
            writer.emit(PRODUCT_CLICKED, product.line(position=position, list_id=list_id))
            writer.emit(PRODUCT_VIEWED, product.line())
            viewed.append(product)
            if len(viewed) >= max(len(targets), 1) and rng.random() > MORE_VIEWS or len(viewed) >= 8:
                break
            list_id = None
            if len(viewed) < len(targets):
                category = targets[len(viewed)].category
            elif rng.random() < OTHER_CATEGORY:
                category = self.category_for(visitor)
        if sign_up and not intent:
            self._sign_up(writer, visitor)

        cart_id = self.uuid()
        cart: dict[Any, tuple[_Product, int]] = {}
        wanted = targets or ([rng.choice(viewed)] if rng.random() < BROWSE_ADD else [])
        for product in wanted:
            quantity = rng.randint(2, 3) if product.price < 15 and rng.random() < 0.25 else 1
            writer.emit(PRODUCT_ADDED, product.line(quantity=quantity, cart_id=cart_id))
            cart[product.product_id] = (product, quantity)
        if cart and rng.random() < CHANGED_MIND:
            product = rng.choice(viewed)
            if product.product_id not in cart or not intent:
                quantity = cart.pop(product.product_id, (product, 1))[1]
                if product not in wanted:
                    writer.emit(PRODUCT_ADDED, product.line(quantity=quantity, cart_id=cart_id))
                writer.emit(PRODUCT_REMOVED, product.line(quantity=quantity, cart_id=cart_id))
        if not cart:
            return writer.events
        lines = [product.line(quantity=quantity) for product, quantity in cart.values()]
        if rng.random() < CART_VIEW:
            writer.emit(CART_VIEWED, {"cart_id": cart_id, "products": lines})
        if sign_up and intent:
            self._sign_up(writer, visitor)
        if rng.random() >= CHECKOUT_START[intent]:
            return writer.events
        self._checkout(writer, visitor, list(cart.values()), lines, intent=intent)
        return writer.events

    def _search(self, writer: _Writer, category: Any) -> str:
        """A search for the category: its list id, or "" when it found nothing."""
        rng = self.rng
        if rng.random() < ZERO_RESULTS:
            writer.emit(PRODUCTS_SEARCHED, {"query": rng.choice(MISSPELLINGS), "results_count": 0})
            if rng.random() < 0.5:
                return ""
        size = len(self.ranked[category])
        query = self.words[category]
        results = size
        if rng.random() < 0.4:
            query = f"{rng.choice(SEARCH_QUALIFIERS)} {query}"
            results = max(1, round(size * rng.uniform(0.1, 0.6)))
        writer.emit(PRODUCTS_SEARCHED, {"query": query, "results_count": results})
        return "search-results"

    def _sign_up(self, writer: _Writer, visitor: _Visitor) -> None:
        visitor.signed_up = True
        writer.user_id = visitor.user_id
        writer.emit(SIGNED_UP, {"method": self.rng.choice(("email", "email", "google", "apple"))})

    def _checkout(self, writer: _Writer, visitor: _Visitor, cart: list[tuple[_Product, int]],
                  lines: list[dict[str, Any]], *, intent: bool) -> None:
        rng, options = self.rng, self.options
        subtotal = sum((product.price * quantity for product, quantity in cart), Decimal(0)).quantize(CENT)
        coupon, discount = None, Decimal("0.00")
        if writer.user_id and visitor.orders == 0 and rng.random() < 0.5:
            coupon, discount = WELCOME_COUPON[0], (subtotal * WELCOME_COUPON[1]).quantize(CENT, ROUND_HALF_UP)
        elif subtotal >= SEASONAL_COUPON[2] and rng.random() < 0.08:
            coupon, discount = SEASONAL_COUPON[0], SEASONAL_COUPON[1]
        revenue = subtotal - discount
        shipping = Decimal("0.00") if revenue >= options.free_shipping_from else options.shipping_fee
        tax = (revenue * options.tax_rate).quantize(CENT, ROUND_HALF_UP)
        total = revenue + shipping + tax
        order_id = f"BZ{next(self.order_numbers):07d}"
        checkout_id = self.uuid()
        amounts = {"subtotal": _money(subtotal), "discount": _money(discount), "shipping": _money(shipping),
                   "tax": _money(tax), "total": _money(total), "revenue": _money(revenue)}
        coupons = {"coupon": coupon} if coupon else {}
        writer.emit(CHECKOUT_STARTED, {"order_id": order_id, "checkout_id": checkout_id, "currency": options.currency,
                                       "value": _money(subtotal), **amounts, **coupons, "products": lines})
        for step, goes_on in enumerate(CHECKOUT_STEP[intent], 1):
            if rng.random() >= goes_on:
                return
            details = {}
            if step == 2:
                details["shipping_method"] = "free" if not shipping else rng.choice(("standard", "standard", "express"))
            elif step == 3:
                details["payment_method"] = rng.choice(("card", "card", "card", "paypal", "apple_pay"))
            writer.emit(CHECKOUT_STEP_COMPLETED, {"checkout_id": checkout_id, "step": step, **details})
        if rng.random() >= ORDER_PLACED:
            return
        writer.emit(ORDER_COMPLETED, {"order_id": order_id, "checkout_id": checkout_id, "currency": options.currency,
                                      **amounts, **coupons, "products": lines})
        visitor.orders += 1
        visitor.bought.update(product.product_id for product, _ in cart)


def _zipf(count: int, exponent: float) -> list[float]:
    """Weights 1, 1/2^s, 1/3^s, ... for ``count`` ranks."""
    return [1 / (rank**exponent) for rank in range(1, count + 1)]
