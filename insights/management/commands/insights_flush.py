"""``manage.py insights_flush``: move buffered analytics events into the event table now (what the
beat task does every few seconds)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from insights import services


class Command(BaseCommand):
    help = (
        "Drain the Redis buffer of analytics events (core.analytics.track) into the partitioned event "
        "table, in batches; malformed records are counted and dropped. At least once: a batch leaves "
        "the buffer only after its rows are committed, and repeated events are ignored (event id). "
        "Safe beside the beat task: one flusher at a time. Does nothing without Redis (events are then "
        "written directly)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000, help="records per INSERT batch")
        parser.add_argument("--max-batches", type=int, default=1000, help="stop after this many batches")

    def handle(self, *args, batch_size: int, max_batches: int, **options):
        report = services.events_flush(batch_size=batch_size, max_batches=max_batches)
        if report.busy:
            self.stdout.write("another flush is running; nothing done")
            return
        self.stdout.write(f"read {report.read}, stored {report.accepted}, skipped {report.skipped} malformed")
