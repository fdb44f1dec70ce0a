#!/usr/bin/env python
"""Benchmark Bazaar on PostgreSQL + Redis with a large demo catalogue (``make bench``).

Steps: create the database if needed, migrate, ``seed_demo --products N`` (idempotent: fast
when already seeded), count SQL queries per page with a cold cache (in-process, Django test
client), serve the app with gunicorn on 127.0.0.1, warm the page cache, load each page with
``wrk`` for a fixed time rotating over many URLs, time the search endpoint on page-cache
misses, place orders through the API (orders/s with 8 and 32 concurrent clients, a Python load
driver) and count SQL queries per ``order_place`` for carts of 1, 5 and 20 lines (in-process),
print a table and write it to ``bench/results/latest.md``. gunicorn is always stopped.

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bazaar_bench), REDIS_URL
(default redis://127.0.0.1:6379/9; the bench FLUSHES that Redis database), BENCH_PRODUCTS
(default 100000), BENCH_PORT (8105), BENCH_DURATION (seconds per page, 10), BENCH_ORDER_DURATION
(seconds per place-order load, 15).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
ORDER_QUERY_BASE, ORDER_QUERY_PER_LINE = 23, 3  # order_place: at most 23 + 3 per cart line
HELLO_BUDGET = 0.70  # product page (warm cache) req/s must be at least 70% of hello's
# Pages as a signed-in member sees them (their prices, delivery, cart count): share of hello's req/s.
MEMBER_BUDGETS = {"product": 0.20, "category": 0.15, "search": 0.10}
MEMBER_QUERY_BUDGET = 10  # SQL queries per member page, cold or warm
SEARCH_P95_BUDGET_MS = 50.0
SEED_BUDGET_S = 180.0  # seed_demo --products 100000 into an empty database
ORDER_BUDGET = 0.05  # orders/s placed by 32 API clients, as a share of hello's req/s
PAYOUT_SELLERS, PAYOUT_ENTRIES = 1000, 200_000  # the payout run: sellers, ledger entries between them
PROMISE_SHARE = 0.05  # the delivery promise may take this share of a member product page rendered on a cache miss
STORAGE_SELLERS, STORAGE_ROWS = 1000, 100_000  # the storage-fee run: sellers, stock rows in a Bazaar centre
SEARCH_WORDS = [
    "kettle", "electric kettle", "headphones", "wireless earbuds", "laptop", "mechanical keyboard", "monitor",
    "coffee maker", "espresso", "frying pan", "table lamp", "throw pillow", "novel", "guide", "yoga mat",
    "dumbbell", "tent", "backpack", "t-shirt", "rain jacket", "dress", "running shoes", "board game",
    "puzzle", "building set", "stainless steel", "bluetooth speaker", "glass kettle", "cast iron", "linen",
    "waterproof", "noise cancelling", "auralis", "kitchara", "trailmark", "gooseneck", "soundbar", "wok",
    "merino", "hedphones", "kettel", "backpak",  # the last three are typos: the fuzzy (trigram) path
]


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DJANGO_ENV": "development",  # not production: no HTTPS redirect on 127.0.0.1
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "API_THROTTLE_ANON": "100000000/min",
        "API_THROTTLE_USER": "100000000/min",
        "RATE_LIMIT_PLACE_ORDER": "off",  # every bench client places orders from 127.0.0.1
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    env.setdefault("MEDIA_ROOT", str(ROOT / "var" / "bench-media"))
    env.setdefault("EMAIL_URL", "dummymail://")  # order e-mails are rendered, not printed into the output
    return env


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            print(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _manage(env: dict[str, str], *argv: str) -> str:
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *argv], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    return result.stdout


# --- in-process: URLs to load, and SQL queries per page with a cold cache -------------------


@dataclass
class Targets:
    hello: list[str]
    home: list[str]
    category: list[str]
    product: list[str]
    search: list[str]
    api: list[str]

    def items(self) -> list[tuple[str, list[str]]]:
        return [("hello", self.hello), ("home", self.home), ("category", self.category),
                ("product", self.product), ("search", self.search), ("api products", self.api)]


def _targets(products: int) -> Targets:
    from catalog.models import Category, Product

    step = max(products // 300, 1)
    slugs = list(
        Product.objects.filter(is_active=True).order_by("pk").values_list("slug", flat=True)[: step * 300 : step]
    )
    categories = list(Category.objects.filter(is_active=True).order_by("pk").values_list("slug", flat=True))
    return Targets(
        hello=["/bench/hello"],
        home=["/"],
        category=[f"/c/{slug}/" for slug in categories] + [f"/c/{slug}/?page=2" for slug in categories[:10]],
        product=[f"/p/{slug}/" for slug in slugs],
        search=[f"/search/?q={urllib.parse.quote_plus(w)}" for w in SEARCH_WORDS],
        api=[f"/api/v1/products/?page={n}" for n in range(1, 11)],
    )


def _cold_queries(targets: Targets) -> dict[str, tuple[int, int]]:
    """(queries, status) of the first URL of each page kind, on an empty cache."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core import cache as vcache

    client = Client()
    result = {}
    for name, urls in targets.items():
        cache.clear()
        vcache.local_clear()  # what this process keeps of the cache goes with it
        with CaptureQueriesContext(connection) as captured:
            response = client.get(urls[0])
        result[name] = (len(captured.captured_queries), response.status_code)
    cache.clear()
    return result


MEMBER_EMAIL = "bench-member@example.com"
MEMBER_PAGES = ("product", "category", "search")


def _member_cookie(pool: list[int]) -> str:
    """The Cookie header of a signed-in member (the demo plan, paid with the test card) with two
    offers in their cart: made once through the services, signed in afresh each run."""
    from django.test import Client

    from accounts import services as account_services
    from accounts.models import User
    from checkout import services as checkout_services
    from checkout.models import Cart
    from membership import selectors as membership_selectors
    from membership import services as membership_services

    user = User.objects.filter(email=MEMBER_EMAIL).first()
    if user is None:
        user = account_services.user_create(email=MEMBER_EMAIL, full_name="Bench Member")
    if membership_selectors.benefits_for(user) is None:
        membership_services.membership_join(user=user, plan=membership_services.plan_ensure_demo(), interval="month",
                                            payment_method=PAYING_CARD, skip_trial=True)
    if not Cart.objects.filter(user=user, lines__isnull=False).exists():
        cart = Cart.objects.create(user=user)
        for offer_id in pool[:2]:
            checkout_services.cart_add(cart=cart, offer_id=offer_id, quantity=1)
    client = Client()
    client.force_login(user, backend="accounts.backends.EmailBackend")  # as a password sign-in records it
    return f"sessionid={client.cookies['sessionid'].value}"


def _member_queries(targets: Targets, cookie: str, redis_url: str) -> dict[str, tuple[int, int, int]]:
    """SQL queries of the first URL of each member page: (every cache empty, a page-cache miss with
    the small tables' caches warm as in a running shop, a page-cache hit)."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core import cache as vcache

    client = Client(HTTP_COOKIE=cookie)
    result = {}
    for name in MEMBER_PAGES:
        url = dict(targets.items())[name][0]
        counts = []
        cache.clear()
        vcache.local_clear()  # what this process keeps of the cache goes with it
        for step in ("cold", "miss", "hit"):
            if step == "miss":
                _drop_page_cache(redis_url)
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            counts.append(len(captured.captured_queries))
        result[name] = tuple(counts)
    cache.clear()
    return result


def _seed_timing(env: dict[str, str], database_url: str, products: int) -> float:
    """Seconds of ``seed_demo --products N`` into a new, migrated, empty database (dropped after)."""
    import psycopg
    from psycopg import sql

    parts = urllib.parse.urlsplit(database_url)
    scratch = parts.path.lstrip("/") + "_seedtime"
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    url = urllib.parse.urlunsplit(parts._replace(path=f"/{scratch}"))

    def recreate(create: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
            if create:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))

    recreate(True)
    try:
        # Its own key prefix: nothing it caches can be read by the bench database's pages.
        scratch_env = {**env, "DATABASE_URL": url, "CACHE_KEY_PREFIX": "bazaar-seedtime"}
        _manage(scratch_env, "migrate", "--noinput")
        started = time.perf_counter()
        _manage(scratch_env, "seed_demo", "--products", str(products))
        return time.perf_counter() - started
    finally:
        recreate(False)


def _settle(database_url: str) -> None:
    """Write out what the steps before the timed loads left in PostgreSQL's memory (the seed timing's
    scratch database, the rollup's ten million events): a CHECKPOINT now, so the checkpointer does
    not flush gigabytes during the searches and orders that are timed next."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# --- gunicorn and wrk -----------------------------------------------------------------------


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], port: int, workers: int, worker_class: str = "sync", threads: int = 1):
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    log = tempfile.NamedTemporaryFile("w+", prefix="bazaar-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [gunicorn, "shop.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", worker_class, "--threads", str(threads), "--timeout", "60", "--log-level", "warning",
         "--no-control-socket"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.3)
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()
        os.unlink(log.name)


@contextlib.contextmanager
def _celery_worker(env: dict[str, str]):
    """A Celery worker on the bench's Redis broker, as in production: the work an order hands over
    after its commit (buy-box refresh, e-mail) is done here, on the same cores as the web server."""
    celery = str(Path(PYTHON).parent / "celery")
    log = tempfile.NamedTemporaryFile("w+", prefix="bazaar-bench-worker-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [celery, "-A", "shop", "worker", "-Q", "default,media,email", "--concurrency", "2", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        time.sleep(3)
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"celery worker exited with {proc.returncode}:\n{log.read()[-3000:]}")
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()
        os.unlink(log.name)


def _backlog(redis_url: str) -> int:
    """Tasks waiting in the broker's queues or taken by the worker and not yet acknowledged."""
    import redis

    client = redis.Redis.from_url(redis_url)
    return sum(client.llen(queue) for queue in ("default", "media", "email")) + client.hlen("unacked")


def _drain(redis_url: str, limit: float = 300.0) -> float:
    """Seconds until the worker has done everything handed to it (at most ``limit``)."""
    started = time.monotonic()
    while _backlog(redis_url) and time.monotonic() - started < limit:
        time.sleep(0.2)
    return time.monotonic() - started


def _get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers or {}), timeout=30) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, (time.perf_counter() - started) * 1000


_GLUE = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""


@dataclass
class Load:
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    note: str = ""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _wrk(base: str, paths: list[str], *, threads: int, connections: int, duration: int,
         headers: dict[str, str] | None = None) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_GLUE % ", ".join(f'"{p}"' for p in paths))
    extra = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", *extra, "-s", script.name, base],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    load = Load()
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        load.rps = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", out, re.M):
        load.p50_ms = _ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", out, re.M):
        load.p99_ms = _ms(m.group(1))
    if m := re.search(r"(\d+) requests in", out):
        load.requests = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        load.errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        load.errors += sum(int(g) for g in m.groups())
    return load


TYPOS = ("hedphones", "kettel", "backpak")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(round(len(ordered) * share)) - 1, 0)] if ordered else 0.0


def _drop_page_cache(redis_url: str) -> None:
    """Delete every cached page (not the other caches): the next request of a page misses.
    The page cache keys only on the parameters a page reads, so a made-up parameter can no
    longer force a miss. Every web process also keeps the pages it served (core.cache's local
    layer): they are told to forget them, and given a moment to hear it."""
    import redis

    from core import cache as vcache

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match="*:page:*", count=1000))
    if keys:
        client.delete(*keys)
    vcache.local_clear_everywhere()
    time.sleep(0.05)


def _search_latency(base: str, count: int, redis_url: str) -> dict[str, float]:
    """Sequential searches that each miss the page cache (the cached pages are dropped before
    each one, untimed).

    Correctly spelled words (full-text path) and typos (trigram path) are timed apart: the
    budget is for the first; typos are reported on their own.
    """
    words = [w for w in SEARCH_WORDS if w not in TYPOS]
    spelled, typos = [], []
    errors = 0
    for i in range(count):
        word = words[i % len(words)]
        _drop_page_cache(redis_url)
        status, ms = _get(base, f"/search/?q={urllib.parse.quote_plus(word)}")
        errors += status != 200
        spelled.append(ms)
    for i in range(max(count // 10, len(TYPOS))):
        word = TYPOS[i % len(TYPOS)]
        _drop_page_cache(redis_url)
        status, ms = _get(base, f"/search/?q={urllib.parse.quote_plus(word)}")
        errors += status != 200
        typos.append(ms)
    return {
        "p50": statistics.median(spelled),
        "p95": _percentile(spelled, 0.95),
        "max": max(spelled),
        "typo_p50": statistics.median(typos),
        "typo_p95": _percentile(typos, 0.95),
        "typo_count": len(typos),
        "errors": errors,
        "count": count,
    }


# --- placing orders: the pool of offers, queries per order_place, load through the API ------

ORDER_ADDRESS = {"full_name": "Bench Buyer", "line1": "1 Load Lane", "city": "Austin", "postal_code": "73301",
                 "region": "TX", "country": "US"}
PAYING_CARD = "4242424242424242"
QUERY_CART_SIZES = (1, 5, 20)
TOP_UP = 100_000  # units received per stock row of the pool, so stock-outs are rare


def _order_pool(size: int) -> list[int]:
    """Ids of ``size`` sellable offers spread over the catalogue, each topped up with stock.

    Stock is received through the fulfillment service (ledger rows, buy boxes refreshed) up to
    TOP_UP units per row; offers the pricing pipeline cannot sell to the bench address are dropped.
    """
    from django.db.models import F

    from checkout import pricing
    from fulfillment import services as fulfillment_services
    from fulfillment.models import StockItem

    items = list(
        StockItem.objects.filter(
            warehouse__is_active=True, offer__is_active=True, offer__product__is_active=True,
            on_hand__gt=F("reserved"),
        ).order_by("offer_id", "pk")
    )
    by_offer: dict[int, StockItem] = {}
    for item in items:
        by_offer.setdefault(item.offer_id, item)
    offer_ids = sorted(by_offer)
    step = max(len(offer_ids) // size, 1)
    chosen = offer_ids[::step][:size]
    priced = pricing.cart_price(
        lines=[pricing.LineInput(offer_id, 1) for offer_id in chosen],
        context=pricing.PricingContext(country=ORDER_ADDRESS["country"], region=ORDER_ADDRESS["region"],
                                       shipping_choices={}, user=None),
    )
    chosen = [offer_id for offer_id in chosen if offer_id not in set(priced.unavailable)]
    for offer_id in chosen:
        item = by_offer[offer_id]
        if item.on_hand - item.reserved < TOP_UP:
            fulfillment_services.stock_receive(
                stock_item=item, quantity=TOP_UP - (item.on_hand - item.reserved), reference="bench:top-up"
            )
    return chosen


def _place_order_queries(pool: list[int]) -> dict[int, tuple[int, int]]:
    """Cart size -> (SQL queries of one ``order_place``, packages), in-process, paid by the test card.

    Carts hold offers without a lightning deal (claiming a deal's units is one more UPDATE and
    INSERT, and makes the next pricing read the deals index again). One order is placed first to
    warm the caches, as in a running shop; then each size is measured twice (fresh carts of
    distinct offers) and the smaller count kept.
    """
    from celery import current_app
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from checkout import services as checkout_services
    from checkout.models import Cart
    from promotions import deals
    from shop.strategy import for_job

    with_deals = set(deals.index())
    pool = [offer_id for offer_id in pool if offer_id not in with_deals]
    stamp = uuid.uuid4().hex[:8]
    result: dict[int, tuple[int, int]] = {}
    for run, size in enumerate((1, *QUERY_CART_SIZES)):  # the first, uncounted, warms the caches
        counts = []
        for attempt in range(2):
            cart = Cart.objects.create()
            start = (attempt * size) % max(len(pool) - size, 1)
            for offer_id in pool[start : start + size]:
                checkout_services.cart_add(cart=cart, offer_id=offer_id, quantity=1)
            # As in a web process: the work after the commit (buy-box refresh, e-mails) is handed to
            # the broker through the outbox and done by a worker, not counted here.
            current_app.conf.task_always_eager = False
            try:
                with CaptureQueriesContext(connection) as captured:
                    placed = checkout_services.order_place(
                        cart=cart, user=AnonymousUser(), email="bench@example.com", shipping_address=ORDER_ADDRESS,
                        payment_method=PAYING_CARD, idempotency_key=f"bench-q-{stamp}-{run}-{attempt}",
                        buyer=for_job(),
                    )
            finally:
                current_app.conf.task_always_eager = True
            counts.append((len(captured.captured_queries), placed.order.packages.count()))
            cart.delete()
        if run:
            result[size] = min(counts)
    return result


PROMOTION_RUNS = 30
PROMOTION_BUDGET = 2.0  # pricing with 50 live promotions within 2x of pricing with none


def _promotion_pricing(pool: list[int]) -> dict[str, float]:
    """Median ms to price a 20-line cart with no live promotion and with 50 (created here, in the
    bench database, and deleted afterwards); warm caches, in-process."""
    from checkout import pricing
    from marketplace.models import Offer
    from promotions import engine as promotions_engine
    from promotions import services as promotions_services
    from promotions.models import Promotion

    lines = [pricing.LineInput(offer_id, 2) for offer_id in pool[:20]]
    context = pricing.PricingContext(country=ORDER_ADDRESS["country"], region=ORDER_ADDRESS["region"])

    def median_ms() -> float:
        """The lowest of three medians: a busy moment of the shared machine (the worker, another
        process) lands in one series of runs, not in all three (as timeit keeps its best)."""
        pricing.cart_price(lines=lines, context=context)  # warm the caches
        medians = []
        for _series in range(3):
            timings = []
            for _run in range(PROMOTION_RUNS):
                started = time.perf_counter()
                pricing.cart_price(lines=lines, context=context)
                timings.append((time.perf_counter() - started) * 1000)
            medians.append(statistics.median(timings))
        return min(medians)

    stamp = f"bench-{uuid.uuid4().hex[:8]}"
    existing = list(Promotion.objects.filter(active=True).values_list("pk", flat=True))
    Promotion.objects.filter(pk__in=existing).update(active=False)  # measure "none live"; restored below
    created: list[int] = []
    try:
        promotions_engine.bump_on_commit()
        none = median_ms()
        products = sorted(set(Offer.objects.filter(pk__in=pool[:20]).values_list("product_id", flat=True)))
        kinds = ["percent_off", "fixed_off", "buy_x_get_y", "fixed_price", "free_shipping"]
        for n in range(50):
            kind = kinds[n % len(kinds)]
            promotion = promotions_services.promotion_save(
                promotion=Promotion(
                    name=f"{stamp}-{n}", label=f"Bench promotion {n}", benefit=kind, priority=n % 7,
                    value=Decimal(1) if kind != "fixed_price" else Decimal(5), x=2, y=1,
                    min_spend=Decimal(n), min_quantity=n % 3,
                ),
                products=products[n % 4 :: 4] if n % 2 else [],
            )
            created.append(promotion.pk)
        fifty = median_ms()
    finally:
        Promotion.objects.filter(pk__in=created).delete()
        Promotion.objects.filter(pk__in=existing).update(active=True)
        promotions_engine.bump_on_commit()
    return {"none_ms": none, "fifty_ms": fifty, "ratio": fifty / none if none else 0.0}


class _Session:
    """One API client over one keep-alive connection, with its own cookie jar (csrftoken, sessionid)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> int:
        head = {"Accept": "application/json"}
        if self.cookies:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "csrftoken" in self.cookies:
            head["X-CSRFToken"] = self.cookies["csrftoken"]
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            head["Content-Type"] = "application/json"
        head.update(headers or {})
        for attempt in range(2):  # a keep-alive connection the server closed is reopened once
            try:
                self.conn.request(method, path, body=data, headers=head)
                response = self.conn.getresponse()
                response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status

    def close(self) -> None:
        self.conn.close()


CPU_ROLES = ("web", "worker", "database", "redis", "clients")


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) each process of the roles has used so far, read from /proc:
    gunicorn (web), Celery (worker), PostgreSQL backends (database), Redis, and this process (the
    load driver's client threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    processes: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if int(entry.name) == os.getpid():
            role = "clients"
        elif "gunicorn" in command:
            role = "web"
        elif "celery" in command:
            role = "worker"
        elif command.startswith("postgres:"):
            role = "database"
        elif "redis-server" in command:
            role = "redis"
        else:
            continue
        processes[int(entry.name)] = (role, (int(fields[11]) + int(fields[12])) / ticks)  # utime, stime
    return processes


def _cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per role between two readings: what each process still alive used since the
    first (all of it for one started since). A process that ended in between is not counted, so
    the figures are lower bounds (the servers keep their processes and database connections)."""
    used = dict.fromkeys(CPU_ROLES, 0.0)
    for pid, (role, seconds) in after.items():
        earlier = before.get(pid)
        used[role] += seconds - (earlier[1] if earlier and earlier[0] == role else 0.0)
    return used


@dataclass
class OrderLoad:
    clients: int
    seconds: float = 0.0
    drain_seconds: float = 0.0  # after the load, until the worker's queues were empty
    orders: int = 0
    stockouts: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by role, over the load and the catch-up

    @property
    def rate(self) -> float:
        """Orders per second, counting the time the worker needed afterwards to catch up."""
        total = self.seconds + self.drain_seconds
        return self.orders / total if total else 0.0


def _order_client(port: int, pool: list[int], deadline: float, load: OrderLoad, lock: threading.Lock,
                  seed: int) -> None:
    """Until the deadline: fill a cart with 1-3 random offers and place the order with a fresh key.
    A stock-out or an error starts over with a new session (a new, empty cart). No request starts
    after the deadline: an order still being filled then is left (and not counted), as wrk counts
    only what completed within its run; finishing it would leave the server half idle at the end
    while the slowest clients finish, and count that time against the rate."""
    rng = random.Random(seed)
    session = None
    while time.monotonic() < deadline:
        try:
            if session is None:
                session = _Session(port)
                session.request("GET", "/api/v1/cart/")
            outcome = "order"
            for offer_id in rng.sample(pool, rng.randint(1, 3)):
                if time.monotonic() >= deadline:
                    outcome = "late"
                    break
                status = session.request("POST", "/api/v1/cart/lines/", {"offer": offer_id, "quantity": 1})
                if status != 201:
                    outcome = "stockout" if status == 409 else f"add {status}"
                    break
            if outcome == "order" and time.monotonic() >= deadline:
                outcome = "late"
            if outcome == "order":
                started = time.perf_counter()
                status = session.request(
                    "POST", "/api/v1/checkout/orders/",
                    {"email": "bench@example.com", "shipping_address": ORDER_ADDRESS, "payment_method": PAYING_CARD},
                    {"Idempotency-Key": uuid.uuid4().hex},
                )
                elapsed = (time.perf_counter() - started) * 1000
                outcome = "order" if status == 201 else "stockout" if status == 409 else f"place {status}"
        except (OSError, http.client.HTTPException):
            status, outcome, elapsed = 0, "error", 0.0
        if outcome == "late":
            break
        with lock:
            if outcome == "order":
                load.orders += 1
                load.latencies_ms.append(elapsed)
            elif outcome == "stockout":
                load.stockouts += 1
            else:
                load.errors += 1
                load.statuses[status] = load.statuses.get(status, 0) + 1
        if outcome != "order" and session is not None:
            session.close()
            session = None
    if session is not None:
        session.close()


def _order_load(port: int, pool: list[int], *, clients: int, duration: int) -> OrderLoad:
    load = OrderLoad(clients=clients)
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + duration
    threads = [
        threading.Thread(target=_order_client, args=(port, pool, deadline, load, lock, n), daemon=True)
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 60)  # bounded: a request times out after 30 s
    load.seconds = time.monotonic() - started
    return load


def _member_miss_latency(base: str, paths: list[str], headers: dict[str, str], redis_url: str) -> dict[str, float]:
    """Sequential member product pages that each miss the page cache (the stored pages are dropped
    before each one, untimed): what the first visitor of a page after a change waits."""
    timings, errors = [], 0
    for path in paths:
        _drop_page_cache(redis_url)
        status, ms = _get(base, path, headers)
        errors += status != 200
        timings.append(ms)
    return {"p50": statistics.median(timings), "p95": _percentile(timings, 0.95), "count": len(timings),
            "errors": errors}


def _member_report(hello: float, loads: dict[str, Load], queries: dict[str, tuple[int, int]], miss: dict,
                   seed_fresh: float | None, products: int) -> str:
    lines = [
        "## Pages as a signed-in member sees them",
        "",
        "A member of the demo plan with two items in their cart (session cookie on every request): member "
        "prices and delivery, their account links and cart count. Same URLs, wrk settings and run as above; "
        "the stored pages are shared by every member of the plan, the personal parts filled in per request.",
        "",
        "| page | req/s | share of hello | goal | | p50 ms | p99 ms | errors | SQL queries: all cold / miss / hit |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name in MEMBER_PAGES:
        load = loads[name]
        share = load.rps / hello
        goal = MEMBER_BUDGETS[name]
        all_cold, page_miss, page_hit = queries[name]
        verdict = "met" if share >= goal and max(page_miss, page_hit) <= MEMBER_QUERY_BUDGET else "MISSED"
        lines.append(f"| {name} | {load.rps:,.0f} | {share:.0%} | >= {goal:.0%} | {verdict} | {load.p50_ms:.1f} | "
                     f"{load.p99_ms:.1f} | {load.errors} | {all_cold} / {page_miss} / {page_hit} |")
    lines += [
        "",
        f"- Member product page on a page-cache miss, {miss['count']} sequential requests: p50 {miss['p50']:.1f} ms, "
        f"p95 {miss['p95']:.1f} ms, errors {miss['errors']}.",
        f"- SQL queries per member page at most {MEMBER_QUERY_BUDGET} on a page-cache miss (the small tables' "
        "caches warm, as in a running shop) and on a hit; \"all cold\" is the very first request after "
        "every cache was emptied, for information.",
    ]
    if seed_fresh is not None:
        verdict = "met" if seed_fresh < SEED_BUDGET_S else "MISSED"
        lines += ["", f"Seeding: `seed_demo --products {products}` into an empty, migrated database took "
                      f"{seed_fresh:.0f} s (goal < {SEED_BUDGET_S:.0f} s: {verdict})."]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=int(os.environ.get("BENCH_PRODUCTS", 100000)))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8105)))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"], help="gunicorn's worker class")
    parser.add_argument("--worker-threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--ratio-pairs", type=int, default=4,
                        help="extra back-to-back hello / warm product page loads for that goal's median")
    parser.add_argument("--searches", type=int, default=200, help="timed sequential searches for p95")
    parser.add_argument("--order-duration", type=int, default=int(os.environ.get("BENCH_ORDER_DURATION", 15)),
                        help="seconds of place-order load per client count (0 skips it)")
    parser.add_argument("--order-clients", default="8,32", help="concurrent API clients placing orders")
    parser.add_argument("--order-pool", type=int, default=300, help="in-stock offers the order clients buy")
    parser.add_argument("--rollup-events", type=int, default=int(os.environ.get("BENCH_ROLLUP_EVENTS", 10_000_000)),
                        help="events of the one day the insights rollup is timed over (0 skips it)")
    parser.add_argument("--seed-timing", action=argparse.BooleanOptionalAction, default=True,
                        help="time seed_demo --products N into a scratch database (about 3 minutes)")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bazaar_bench")
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        print("the benchmark needs PostgreSQL (DATABASE_URL=postgres://...)", file=sys.stderr)
        return 2

    env = _env(args)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    _ensure_database(args.database_url)
    print("migrating")
    _manage(env, "migrate", "--noinput")
    print(f"seeding {args.products} products (skipped when present)")
    started = time.perf_counter()
    seed_out = _manage(env, "seed_demo", "--products", str(args.products))
    seed_seconds = time.perf_counter() - started
    summary = [line for line in seed_out.splitlines() if line.startswith("Demo data ready")]
    print(summary[0] if summary else seed_out[-500:])

    import django

    django.setup()
    from django.db import connection

    targets = _targets(args.products)
    queries = _cold_queries(targets)
    print("topping up stock and counting SQL queries per order_place")
    pool = _order_pool(args.order_pool)
    member_cookie = _member_cookie(pool)
    member_queries = _member_queries(targets, member_cookie, args.redis_url)
    order_queries = _place_order_queries(pool)
    print("timing pricing of a 20-line cart with 0 and 50 live promotions")
    promotion_timing = _promotion_pricing(pool)
    print(f"timing a payout run: {PAYOUT_SELLERS} sellers, {PAYOUT_ENTRIES} ledger entries (rolled back)")
    payouts = _payout_run()
    print(f"timing a month's storage fees: {STORAGE_SELLERS} sellers, {STORAGE_ROWS} stock rows (rolled back)")
    storage_fees = _storage_run()
    print("timing the delivery promise of a product page")
    promise_cost = _promise_timing()
    import insights_bench

    print("timing insights: recording events, the recommendation fragment")
    recording = insights_bench.recording()
    recs_fragment = insights_bench.recommendation_fragment()
    day_rollup = None
    if args.rollup_events:
        print(f"timing the insights rollup of one day of {args.rollup_events:,} events (generated, then dropped)")
        day_rollup = insights_bench.rollup(args.rollup_events)
    connection.close()
    seed_fresh = None
    if args.seed_timing:
        print(f"timing seed_demo --products {args.products} into an empty database")
        seed_fresh = _seed_timing(env, args.database_url, args.products)
        print(f"  {seed_fresh:.0f} s")

    print("checkpoint before the timed loads")
    _settle(args.database_url)
    base = f"http://127.0.0.1:{args.port}"
    loads: dict[str, Load] = {}
    # The web processes hand after-commit work to a real worker (not eager), as in production.
    web_env = {**env, "CELERY_TASK_ALWAYS_EAGER": "false"}
    with _celery_worker(web_env), _gunicorn(web_env, args.port, args.workers, args.worker_class, args.worker_threads):
        print("warming the page cache")
        for name, urls in targets.items():
            statuses = {_get(base, url)[0] for url in urls}
            if statuses != {200}:
                print(f"  {name}: statuses {sorted(statuses)}")
        for name, urls in targets.items():
            print(f"wrk {name} ({len(urls)} URLs, {args.duration} s)")
            loads[name] = _wrk(base, urls, threads=args.threads, connections=args.connections, duration=args.duration)
        # The warm product page's goal is a ratio of two loads; on a shared machine one load can land
        # in a busy moment, so hello and the product page are also measured back to back, in pairs.
        pairs: list[tuple[float, float]] = []
        for n in range(args.ratio_pairs):
            print(f"wrk hello then product, pair {n + 1} of {args.ratio_pairs}")
            pairs.append(tuple(_wrk(base, urls, threads=args.threads, connections=args.connections,
                                    duration=args.duration).rps for urls in (targets.hello, targets.product)))
        member_loads: dict[str, Load] = {}
        member_headers = {"Cookie": member_cookie}
        print("warming the member's pages")
        for name in MEMBER_PAGES:
            statuses = {_get(base, url, member_headers)[0] for url in dict(targets.items())[name]}
            if statuses != {200}:
                print(f"  member {name}: statuses {sorted(statuses)}")
        for name in MEMBER_PAGES:
            urls = dict(targets.items())[name]
            print(f"wrk {name} as a signed-in member ({len(urls)} URLs, {args.duration} s)")
            member_loads[name] = _wrk(base, urls, threads=args.threads, connections=args.connections,
                                      duration=args.duration, headers=member_headers)
        print("timing member product pages that miss the page cache")
        member_miss = _member_miss_latency(base, targets.product[:60], member_headers, args.redis_url)
        print(f"timing {args.searches} searches that miss the page cache")
        search = _search_latency(base, args.searches, args.redis_url)
        order_loads = []
        for clients in [int(n) for n in args.order_clients.split(",") if n.strip()] if args.order_duration else []:
            print(f"placing orders through the API: {clients} clients, {args.order_duration} s")
            cpu_before = _cpu_by_process()
            load = _order_load(args.port, pool, clients=clients, duration=args.order_duration)
            load.drain_seconds = _drain(args.redis_url)  # the worker finishes what the orders handed it
            load.cpu_seconds = _cpu_used(cpu_before, _cpu_by_process())
            order_loads.append(load)

    report = _report(args, targets, loads, queries, search, seed_seconds, order_loads, order_queries, len(pool),
                     promotion_timing, pairs)
    report += "\n" + _member_report(loads["hello"].rps or 1.0, member_loads, member_queries, member_miss, seed_fresh,
                                     args.products)
    report += (
        "\n## Seller payouts\n\nOne payout run (`finance.services.payout_run`, test provider) for "
        f"{payouts['sellers']:,} sellers with {payouts['entries']:,} ledger entries between them, in a "
        "transaction rolled back afterwards: "
        f"{payouts['seconds']:.2f} s, {payouts['paid']:,} payouts, {payouts['queries']:,} SQL queries "
        f"({payouts['queries'] / max(payouts['sellers'], 1):.1f} per seller); with a tenth of the entries "
        f"{payouts['queries_tenth']:,} queries (the same: queries follow sellers, not entries).\n"
    )
    page_ms = member_miss["p50"]
    share = promise_cost["ms_per_page"] / max(page_ms, 0.001)
    page_met = member_loads["product"].rps / (loads["hello"].rps or 1.0) >= MEMBER_BUDGETS["product"]
    verdict = "met" if share <= PROMISE_SHARE and page_met else "MISSED"
    report += (
        "\n## The delivery promise on a product page\n\nIn one process, over "
        f"{promise_cost['pages']} products ({promise_cost['offers']:.1f} offers each): the warehouses' clocks for "
        "the page key, the cached calendar, and each offer's promised days and its member's: "
        f"{promise_cost['ms_per_page']:.3f} ms per page, {promise_cost['queries']:.1f} SQL queries; that is "
        f"{share:.1%} of a member product page rendered on a page-cache miss (p50 {page_ms:.1f} ms; a page-cache "
        "hit computes only the clocks). Budget: at most "
        f"{PROMISE_SHARE:.0%} of that page, and the member product page (promise included) within its goal of "
        f"{MEMBER_BUDGETS['product']:.0%} of hello: {verdict}.\n"
    )
    report += (
        f"\n## Storage fees\n\nFor {storage_fees['sellers']:,} sellers with {storage_fees['rows']:,} stock rows in a "
        "Bazaar centre (in a transaction rolled back afterwards): the daily snapshot "
        f"(`fulfillment.storage.storage_snapshot`) {storage_fees['snapshot_seconds']:.2f} s, "
        f"{storage_fees['snapshot_queries']:,} SQL queries; the month's charge (`storage_charge_month`, 30 daily "
        f"snapshots) {storage_fees['charge_seconds']:.2f} s, {storage_fees['charges']:,} charges, "
        f"{storage_fees['charge_queries']:,} SQL queries "
        f"({storage_fees['charge_queries'] / max(storage_fees['sellers'], 1):.1f} per seller).\n"
    )
    report += _insights_report(recording, recs_fragment, day_rollup, loads["hello"].rps or 1.0)
    print()
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(report + "\n", encoding="utf-8")
    print(f"written to {RESULTS / 'latest.md'}")
    return 0


def _insights_report(recording: dict, fragment: dict, rollup: dict | None, hello_rps: float) -> str:
    per_request_us = 1e6 / hello_rps  # wall time per hello request over the run's workers, for scale
    text = (
        "\n## Insights\n\nRecording an event (`core.analytics.track`, one RPUSH to the Redis buffer): "
        f"{recording['track_us']:.0f} µs per call over {recording['calls']:,} calls "
        f"({recording['track_us'] / per_request_us:.0%} of the time one hello request takes at this run's rate); "
        "the flush into the partitioned table stores "
        f"{recording['flush_rate']:,.0f} events/s ({recording['flushed']:,} flushed). The product page never waits for "
        "its recommendations: they are a fragment fetched after the page (in-process p50 "
        f"{fragment['cold']:.1f} ms on a page-cache miss, {fragment['warm']:.1f} ms on a hit), so the product page's "
        "figures above include none of it.\n"
    )
    if rollup:
        dashboard = rollup["dashboard"]
        same = dashboard["days_7"] == dashboard["days_90"]
        text += (
            f"\nThe day rollup (`insights.rollups.rollup_day`: sessions, then KPIs by device, channel, category and "
            f"seller, and searches) over {rollup['events']:,.0f} events of one day: "
            f"{rollup['rollup_seconds']:.1f} s, {rollup['sessions']:,} sessions (generating the day took "
            f"{rollup['generate_seconds']:.0f} s). A day's scan "
            f"reads {rollup['partitions_scanned']} partition of the {rollup['partitions']} kept, so the time follows "
            "the day's events, not the days kept. The dashboard page: "
            f"{dashboard['days_7']} SQL queries for a week, {dashboard['days_90']} for 90 days "
            f"({'constant' if same else 'NOT constant'}).\n"
        )
    return text


class _RolledBack(Exception):
    pass


def _payout_run(sellers: int = PAYOUT_SELLERS, entries: int = PAYOUT_ENTRIES) -> dict[str, float]:
    """One payout run for ``sellers`` sellers with ``entries`` ledger entries between them, in a
    transaction rolled back afterwards (the bench database keeps nothing): seconds and SQL
    queries, also with a tenth of the entries, to show the queries follow sellers, not entries."""
    from django.db import connection, transaction

    from finance import services as finance_services
    from finance.models import LedgerEntry
    from marketplace.models import Seller

    def run(per_seller: int) -> tuple[float, int, int]:
        result: list[tuple[float, int, int]] = []
        try:
            with transaction.atomic():
                stamp = uuid.uuid4().hex[:8]
                made = Seller.objects.bulk_create(
                    [Seller(name=f"Payout bench {stamp} {n}", slug=f"payout-bench-{stamp}-{n}") for n in range(sellers)]
                )
                rows = (
                    LedgerEntry(seller_id=seller.pk, kind=LedgerEntry.Kind.SALE, amount=Decimal("12.34"),
                                currency="USD", source_type=LedgerEntry.Source.ORDER_LINE,
                                source_id=-(index * per_seller + k + 1))  # negative: never a real line's id
                    for index, seller in enumerate(made) for k in range(per_seller)
                )
                while batch := list(itertools.islice(rows, 10_000)):
                    LedgerEntry.objects.bulk_create(batch)
                statements = 0

                def count(execute, sql, params, many, context):
                    nonlocal statements
                    statements += 1
                    return execute(sql, params, many, context)

                with connection.execute_wrapper(count):
                    started = time.perf_counter()
                    outcome = finance_services.payout_run()
                    seconds = time.perf_counter() - started
                result.append((seconds, statements, outcome.paid))
                raise _RolledBack
        except _RolledBack:
            pass
        return result[0]

    seconds, queries, paid = run(entries // sellers)
    _small_seconds, small_queries, _small_paid = run(max(entries // sellers // 10, 1))
    return {"sellers": sellers, "entries": entries, "seconds": seconds, "queries": queries, "paid": paid,
            "queries_tenth": small_queries}


def _promise_timing(pages: int = 300, rounds: int = 20) -> dict[str, float]:
    """What the delivery promise adds to one product page, in this process: the warehouses' clocks
    for the page key (``promise_epoch``), the shared calendar (``calendar``) and, for each offer of
    the product in stock, its promised days and its member's (``promise.promise``), as ``offer_facts``
    computes them. Over ``pages`` products with offers, each ``rounds`` times; the stock and shipping
    methods the page reads anyway are read once beforehand. Counts the SQL it issues (the calendar is
    cached: none once warm)."""
    from django.db import connection
    from django.utils import timezone

    from fulfillment import promise, selectors
    from marketplace.models import Offer

    offers = list(Offer.objects.filter(is_active=True).order_by("product_id", "pk")
                  .only("pk", "product_id", "seller_id", "fulfillment_channel", "handling_days")[: pages * 4])
    by_product: dict[int, list] = {}
    for offer in offers:
        by_product.setdefault(offer.product_id, []).append(offer)
    products = list(by_product.values())[:pages]
    stock = selectors.stock_by_offer(offer_ids=[o.pk for page in products for o in page])
    methods = selectors.active_shipping_methods()
    options = {}
    for page in products:
        for o in page:
            key = (o.seller_id, o.fulfillment_channel)
            if key not in options:
                plain = selectors.shipping_methods_for(seller_id=key[0], channel=key[1], methods=methods)
                member = selectors.shipping_methods_for(seller_id=key[0], channel=key[1], methods=methods, members=True)
                options[key] = (min(plain, key=lambda m: (m.price, m.min_days), default=None),
                                min(member, key=lambda m: (m.max_days, m.min_days), default=None))
    selectors.calendar()
    selectors.promise_epoch()  # warm, as in a running shop
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    now = timezone.now()
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        for _round in range(rounds):
            for page in products:
                selectors.promise_epoch(now=now)
                cal = selectors.calendar()
                for o in page:
                    available, warehouse_id = stock.get(o.pk, (0, None))
                    if available <= 0 or warehouse_id is None:
                        continue
                    dispatch = selectors.dispatch_of(warehouse_id=warehouse_id, cal=cal)
                    for method in options[(o.seller_id, o.fulfillment_channel)]:
                        if method is not None:
                            promise.promise(now=now, dispatch=dispatch, handling_days=o.handling_days,
                                            min_days=method.min_days, max_days=method.max_days,
                                            transit_closed=selectors.transit_closed(carrier=method.carrier, cal=cal))
        seconds = time.perf_counter() - started
    timed = len(products) * rounds
    return {"pages": len(products), "offers": sum(len(p) for p in products) / max(len(products), 1),
            "ms_per_page": seconds * 1000 / max(timed, 1), "queries": statements / max(timed, 1)}


def _storage_run(sellers: int = STORAGE_SELLERS, rows: int = STORAGE_ROWS) -> dict[str, float]:
    """A day's storage snapshot and a month's storage charge for ``sellers`` sellers with ``rows``
    stock rows between them in one Bazaar centre, in a transaction rolled back afterwards."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Product
    from fulfillment import storage
    from fulfillment.models import StockItem, StorageSnapshot, Warehouse
    from marketplace.models import Offer, Seller

    products = list(Product.objects.order_by("pk").values_list("pk", flat=True)[: max(rows // sellers, 1)])
    per_seller = len(products)
    result: dict[str, float] = {"sellers": sellers, "rows": sellers * per_seller}

    def timed(call) -> tuple[object, float, int]:
        statements = 0

        def count(execute, sql, params, many, context):
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            value = call()
            return value, time.perf_counter() - started, statements

    try:
        with transaction.atomic():
            stamp = uuid.uuid4().hex[:8]
            centre = Warehouse.objects.create(code=f"bench-fc-{stamp}", name="Bench centre")
            made = Seller.objects.bulk_create(
                [Seller(name=f"Storage bench {stamp} {n}", slug=f"storage-bench-{stamp}-{n}") for n in range(sellers)])
            offers = (Offer(seller_id=seller.pk, product_id=product_id, sku=f"SB-{stamp}-{i}-{product_id}",
                            price=Decimal("10.00"), fulfillment_channel=Offer.Channel.PLATFORM)
                      for i, seller in enumerate(made) for product_id in products)
            while batch := list(itertools.islice(offers, 10_000)):
                created = Offer.objects.bulk_create(batch)
                StockItem.objects.bulk_create([StockItem(offer_id=o.pk, warehouse_id=centre.pk, on_hand=5)
                                               for o in created])
            first = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
            _rows, result["snapshot_seconds"], result["snapshot_queries"] = timed(
                lambda: storage.storage_snapshot(day=first))
            day_one = list(StorageSnapshot.objects.filter(day=first))
            for offset in range(1, 30):
                StorageSnapshot.objects.bulk_create([
                    StorageSnapshot(seller_id=r.seller_id, day=first + timedelta(days=offset),
                                    storage_class=r.storage_class, cubic_feet=r.cubic_feet, units=r.units)
                    for r in day_one], batch_size=10_000)
            result["charges"], result["charge_seconds"], result["charge_queries"] = timed(
                lambda: storage.storage_charge_month(month=first))
            raise _RolledBack
    except _RolledBack:
        pass
    return result


def _report(
    args, targets: Targets, loads: dict[str, Load], queries: dict[str, tuple[int, int]], search: dict,
    seed_seconds: float, order_loads: list[OrderLoad], order_queries: dict[int, tuple[int, int]], pool_size: int,
    promotion_timing: dict[str, float], pairs: list[tuple[float, float]],
) -> str:
    hello = loads["hello"].rps or 1.0
    single_share = loads["product"].rps / hello
    # the goal's figure: the median over the table's run and the back-to-back pairs
    shares = sorted([single_share, *(product / (hello_rps or 1.0) for hello_rps, product in pairs)])
    product_share = statistics.median(shares)
    lines = [
        f"# Bazaar benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{args.products} products on PostgreSQL; gunicorn {args.workers} {args.worker_class} workers"
        f"{f' of {args.worker_threads} threads' if args.worker_class == 'gthread' else ''} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}); wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s per page, rotating over many URLs; page cache warm. Seed step: {seed_seconds:.0f} s.",
        "",
        "| page | URLs | req/s | p50 ms | p99 ms | errors | SQL queries (cold cache) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    urls = {name: len(paths) for name, paths in targets.items()}
    for name, load in loads.items():
        count, status = queries.get(name, (0, 0))
        status_note = "" if status == 200 else f" (HTTP {status})"
        lines.append(
            f"| {name} | {urls[name]} | {load.rps:,.0f} | {load.p50_ms:.1f} | {load.p99_ms:.1f} | "
            f"{load.errors} | {count}{status_note} |"
        )
    verdict = "met" if product_share >= HELLO_BUDGET else "MISSED"
    search_verdict = "met" if search["p95"] < SEARCH_P95_BUDGET_MS else "MISSED"
    lines += [
        "",
        f"- Product page (warm cache) throughput: {product_share:.1%} of hello, the median of {len(shares)} "
        f"measures ({', '.join(f'{share:.1%}' for share in shares)}: the table's run and {len(pairs)} pairs of hello "
        f"then the product page, back to back) (budget >= {HELLO_BUDGET:.0%}: {verdict}).",
        f"- Search, page-cache miss, {search['count']} sequential requests over {len(SEARCH_WORDS) - len(TYPOS)} "
        f"correctly spelled words: p50 {search['p50']:.1f} ms, p95 {search['p95']:.1f} ms, max {search['max']:.1f} ms "
        f"(budget p95 < {SEARCH_P95_BUDGET_MS:.0f} ms: {search_verdict}).",
        f"- Search with a typo (trigram fallback), {search['typo_count']} requests: p50 {search['typo_p50']:.1f} ms, "
        f"p95 {search['typo_p95']:.1f} ms. Errors in all searches: {search['errors']}.",
        "",
        "## Placing orders",
        "",
        f"API clients (Python threads, one session and keep-alive connection each) fill a guest cart with 1-3 "
        f"random offers of {pool_size} topped-up ones and POST /api/v1/checkout/orders/ with a fresh "
        f"Idempotency-Key, paying with the test card; {args.order_duration} s per row. A Celery worker (2 processes, "
        "same machine) does the work each order hands over after its commit (buy-box refresh, e-mail); orders/s "
        "counts the seconds it needed afterwards to empty its queues as well.",
        "",
        "| clients | orders | orders/s | share of hello | p50 ms | p99 ms | stock-outs (409) | errors "
        "| worker catch-up s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for load in order_loads:
        statuses = ", ".join(f"HTTP {k or 'none'}: {v}" for k, v in sorted(load.statuses.items()))
        p50 = statistics.median(load.latencies_ms or [0])
        lines.append(
            f"| {load.clients} | {load.orders} | {load.rate:,.1f} | {load.rate / hello:.1%} | {p50:.0f} | "
            f"{_percentile(load.latencies_ms, 0.99):.0f} | {load.stockouts} | {load.errors}"
            f"{f' ({statuses})' if statuses else ''} | {load.drain_seconds:.1f} |"
        )
    if order_loads:
        lines += [
            "",
            "Where the machine's CPU went, per order placed (milliseconds of CPU, user + system, read from /proc "
            "over the load and the catch-up; clients are the load driver's threads; one order is a session's cart "
            "requests and its place-order request):",
            "",
            f"| clients | {' | '.join(CPU_ROLES)} | all | cores busy |",
            f"| ---: |{' ---: |' * (len(CPU_ROLES) + 2)}",
        ]
        for load in order_loads:
            per_order = {role: load.cpu_seconds.get(role, 0.0) * 1000 / max(load.orders, 1) for role in CPU_ROLES}
            wall = load.seconds + load.drain_seconds
            busy = sum(load.cpu_seconds.values()) / wall if wall else 0.0
            lines.append(f"| {load.clients} | {' | '.join(f'{per_order[role]:.1f}' for role in CPU_ROLES)} | "
                         f"{sum(per_order.values()):.1f} | {busy:.2f} |")
    for load in order_loads:
        if load.clients == 32:
            verdict = "met" if load.rate / hello >= ORDER_BUDGET and not load.errors else "MISSED"
            lines += ["", f"- 32 clients: {load.rate / hello:.1%} of hello's req/s, {load.errors} errors (goal >= "
                          f"{ORDER_BUDGET:.0%} with 0 errors: {verdict})."]
    if not order_loads:
        lines.append("| - | skipped (--order-duration 0) | | | | | |")
    sizes = sorted(order_queries)
    lines += [
        "",
        "SQL queries per `order_place` (in-process, paid; every statement counted, BEGIN and COMMIT included; the "
        "buy-box refresh and the e-mail are handed to a worker through the outbox), beside the budget of "
        f"{ORDER_QUERY_BASE} + {ORDER_QUERY_PER_LINE} per line:",
        "",
        "| cart lines | packages | SQL queries | budget | |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    for n in sizes:
        budget = ORDER_QUERY_BASE + ORDER_QUERY_PER_LINE * n
        verdict = "met" if order_queries[n][0] <= budget else "NOT met"
        lines.append(f"| {n} | {order_queries[n][1]} | {order_queries[n][0]} | {budget} | {verdict} |")
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        per_line = (order_queries[last][0] - order_queries[first][0]) / (last - first)
        lines += ["", f"- Growth: {per_line:.1f} queries per extra cart line ({first} -> {last} lines)."]
    ratio = promotion_timing["ratio"]
    lines += [
        "",
        "## Pricing with automatic promotions",
        "",
        f"The lowest of three medians of {PROMOTION_RUNS} in-process `cart_price` calls on a 20-line cart, warm "
        f"caches: {promotion_timing['none_ms']:.1f} ms with no live promotion, {promotion_timing['fifty_ms']:.1f} ms "
        f"with 50 (ratio {ratio:.2f}x, budget <= {PROMOTION_BUDGET:.0f}x: "
        f"{'met' if ratio <= PROMOTION_BUDGET else 'MISSED'}).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
