"""``manage.py seed_demo``: fill the shop with realistic demo data (safe to run again)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop.demo.generate import DEFAULT_SEED
from shop.demo.seed import seed_demo


class Command(BaseCommand):
    help = (
        "Create demo categories, brands, sellers, warehouses, shipping methods, products with offers, "
        "stock, images and reviews, and buy boxes. Idempotent: a second run with the same options "
        "changes nothing, and a larger --products only adds the missing products. Also creates a "
        "demo seller account (printed at the end). Refused in production (DJANGO_ENV=production): it "
        "creates accounts with published passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=500, help="How many demo products (default 500).")
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED,
            help=f"Random seed of the generated data (default {DEFAULT_SEED}); product i is the same for a seed.",
        )
        parser.add_argument(
            "--events", type=int, default=0,
            help="Also about this many shopper events (visits, funnels, searches, orders) over the last "
                 "--event-days days, rolled up for the insights dashboard, with the demo experiment's exposures "
                 "and recommendations computed from them (default 0: none).",
        )
        parser.add_argument("--event-days", type=int, default=30, help="Days the events span (default 30).")

    def handle(self, *args, products: int, seed: int, events: int = 0, event_days: int = 30, verbosity: int = 1,
               **options) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo refuses to run in production (DJANGO_ENV=production): demo data includes "
                "accounts whose passwords are printed and documented. Run it in development only."
            )
        if products < 0:
            raise CommandError("--products must be zero or more.")
        if events < 0 or not 1 <= event_days <= 365:
            raise CommandError("--events must be zero or more and --event-days from 1 to 365.")
        log = self.stdout.write if verbosity >= 1 else (lambda _msg: None)
        result = seed_demo(products=products, seed=seed, log=log, events=events, event_days=event_days)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {result.products_created} products created "
            f"({result.products_requested} requested) in {result.seconds:.1f} s."
        ))
        for name, value in result.counts.items():
            self.stdout.write(f"  {name:<22} {value:>9}")
        if verbosity >= 2:
            for name, seconds in result.timings:
                self.stdout.write(f"  [{seconds:7.2f} s] {name}")
        self.stdout.write(
            f"Demo seller account (member of {result.seller_name}): sign in at /admin/ as "
            f"{result.seller_email} / {result.seller_password}"
        )
