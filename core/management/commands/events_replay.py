"""Hand stored domain events to their consumers again (idempotent consumers make this safe)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from core import events


class Command(BaseCommand):
    help = ("Replay domain events from the event log to their consumers (EVENT_CONSUMERS): after a consumer was "
            "fixed, or to fill a new one. Consumers are idempotent.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since-id", type=int, default=0, help="only events with a larger id")
        parser.add_argument("--name", action="append", default=[], help="only this event (repeatable)")
        parser.add_argument("--consumer", action="append", default=[], help="only this consumer task (repeatable)")
        parser.add_argument("--limit", type=int, default=10_000, help="at most this many events (oldest first)")

    def handle(self, *args, **options) -> None:
        count = events.replay(since_id=options["since_id"], names=options["name"], only=options["consumer"],
                              limit=options["limit"])
        self.stdout.write(f"{count} consumer task(s) enqueued")
