"""``manage.py insights_rollup``: sessionise and roll up days of events into the daily KPIs (what
beat does for yesterday at 00:30 UTC and for today every 15 minutes)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from insights import rollups


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a day (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = (
        "Rebuild the sessions and daily KPIs (insights.DailyMetric, insights.DailySearch) of one UTC day "
        "(--day, yesterday by default) or of every day from --from to --to included. Each day is replaced "
        "in one transaction, so running it again, or beside the beat task, is safe. A day reads only its "
        "own partition of the event table."
    )

    def add_arguments(self, parser):
        parser.add_argument("--day", type=_day, help="one day, YYYY-MM-DD (default: yesterday, UTC)")
        parser.add_argument("--from", dest="start", type=_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", type=_day, help="last day, YYYY-MM-DD (default: --from)")

    def handle(self, *args, day: date | None, start: date | None, end: date | None, **options):
        if day and (start or end):
            raise CommandError("give --day, or --from and --to, not both")
        if end and not start:
            raise CommandError("--to needs --from")
        if start:
            end = end or start
        else:
            start = end = day or datetime.now(UTC).date() - timedelta(days=1)
        if end < start:
            raise CommandError("--to is before --from")
        began = time.monotonic()

        def progress(report: rollups.RollupReport, index: int, total: int) -> None:
            self.stdout.write(f"[{index}/{total}] {report.day.isoformat()}: {report.sessions} sessions, "
                              f"{report.metrics} metric rows, {report.searches} queries "
                              f"({time.monotonic() - began:.1f} s)")

        rollups.rollup_range(start, end, progress=progress)
