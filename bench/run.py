#!/usr/bin/env python
"""Benchmark Bazaar on PostgreSQL + Redis with a large demo catalogue (``make bench``).

Steps: create the database if needed, migrate, ``seed_demo --products N`` (idempotent: fast
when already seeded), count SQL queries per page with a cold cache (in-process, Django test
client), serve the app with gunicorn on 127.0.0.1, warm the page cache, load each page with
``wrk`` for a fixed time rotating over many URLs, time the search endpoint on page-cache
misses, print a table and write it to ``bench/results/latest.md``. gunicorn is always stopped.

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bazaar_bench), REDIS_URL
(default redis://127.0.0.1:6379/9; the bench FLUSHES that Redis database), BENCH_PRODUCTS
(default 100000), BENCH_PORT (8105), BENCH_DURATION (seconds per page, 10).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
HELLO_BUDGET = 0.50  # product page (warm cache) req/s must be at least half of hello's
SEARCH_P95_BUDGET_MS = 100.0
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
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    env.setdefault("MEDIA_ROOT", str(ROOT / "var" / "bench-media"))
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

    client = Client()
    result = {}
    for name, urls in targets.items():
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(urls[0])
        result[name] = (len(captured.captured_queries), response.status_code)
    cache.clear()
    return result


# --- gunicorn and wrk -----------------------------------------------------------------------


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], port: int, workers: int):
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    log = tempfile.NamedTemporaryFile("w+", prefix="bazaar-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [gunicorn, "shop.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", "sync", "--timeout", "60", "--log-level", "warning", "--no-control-socket"],
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


def _get(base: str, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
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


def _wrk(base: str, paths: list[str], *, threads: int, connections: int, duration: int) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_GLUE % ", ".join(f'"{p}"' for p in paths))
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, base],
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


def _search_latency(base: str, count: int) -> dict[str, float]:
    """Sequential searches that each miss the page cache (unique query string).

    Correctly spelled words (full-text path) and typos (trigram path) are timed apart: the
    budget is for the first; typos are reported on their own.
    """
    stamp = int(time.time())
    words = [w for w in SEARCH_WORDS if w not in TYPOS]
    spelled, typos = [], []
    errors = 0
    for i in range(count):
        word = words[i % len(words)]
        status, ms = _get(base, f"/search/?q={urllib.parse.quote_plus(word)}&bench={stamp}-{i}")
        errors += status != 200
        spelled.append(ms)
    for i in range(max(count // 10, len(TYPOS))):
        word = TYPOS[i % len(TYPOS)]
        status, ms = _get(base, f"/search/?q={urllib.parse.quote_plus(word)}&bench={stamp}-t{i}")
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


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=int(os.environ.get("BENCH_PRODUCTS", 100000)))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8105)))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--searches", type=int, default=200, help="timed sequential searches for p95")
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
    connection.close()

    base = f"http://127.0.0.1:{args.port}"
    loads: dict[str, Load] = {}
    with _gunicorn(env, args.port, args.workers):
        print("warming the page cache")
        for name, urls in targets.items():
            statuses = {_get(base, url)[0] for url in urls}
            if statuses != {200}:
                print(f"  {name}: statuses {sorted(statuses)}")
        for name, urls in targets.items():
            print(f"wrk {name} ({len(urls)} URLs, {args.duration} s)")
            loads[name] = _wrk(base, urls, threads=args.threads, connections=args.connections, duration=args.duration)
        print(f"timing {args.searches} searches that miss the page cache")
        search = _search_latency(base, args.searches)

    report = _report(args, targets, loads, queries, search, seed_seconds)
    print()
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(report + "\n", encoding="utf-8")
    print(f"written to {RESULTS / 'latest.md'}")
    return 0


def _report(
    args, targets: Targets, loads: dict[str, Load], queries: dict[str, tuple[int, int]], search: dict,
    seed_seconds: float,
) -> str:
    hello = loads["hello"].rps or 1.0
    product_share = loads["product"].rps / hello
    lines = [
        f"# Bazaar benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{args.products} products on PostgreSQL; gunicorn {args.workers} sync workers on {os.cpu_count()} cores "
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
        f"- Product page (warm cache) throughput: {product_share:.0%} of hello "
        f"(budget >= {HELLO_BUDGET:.0%}: {verdict}).",
        f"- Search, page-cache miss, {search['count']} sequential requests over {len(SEARCH_WORDS) - len(TYPOS)} "
        f"correctly spelled words: p50 {search['p50']:.1f} ms, p95 {search['p95']:.1f} ms, max {search['max']:.1f} ms "
        f"(budget p95 < {SEARCH_P95_BUDGET_MS:.0f} ms: {search_verdict}).",
        f"- Search with a typo (trigram fallback), {search['typo_count']} requests: p50 {search['typo_p50']:.1f} ms, "
        f"p95 {search['typo_p95']:.1f} ms. Errors in all searches: {search['errors']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
