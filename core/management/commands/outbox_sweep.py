"""``manage.py outbox_sweep``: publish waiting outbox rows now (what the beat task does every minute)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from core import outbox


class Command(BaseCommand):
    help = (
        "Publish the Celery tasks still waiting in the outbox (their first send failed because the "
        "broker was down, or their sender died), in the order they were written, and delete sent "
        "rows older than the retention period. Safe to run beside the beat task or another sweeper: "
        "each row is sent by one of them only. Exit status 1 if the broker is still unreachable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=outbox.BATCH_SIZE, help="rows claimed per round trip")

    def handle(self, *args, batch_size: int, **options):
        report = outbox.sweep(batch_size=batch_size)
        self.stdout.write(
            f"sent {report.sent}, failed {report.failed}, deleted {report.deleted}; "
            f"{outbox.pending_count()} still waiting"
        )
        if report.broker_down:
            self.stderr.write("the broker is unreachable; the rows wait for the next sweep")
            raise SystemExit(1)
