"""``manage.py export_lake``: the event store and the KPIs as Parquet (``insights.lake``)."""

from __future__ import annotations

import time
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from insights import lake

BAR = 10


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a day (YYYY-MM-DD)") from exc


def _size(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB"
    return f"{count / 1000:.1f} kB"


class Command(BaseCommand):
    help = (
        "Write the analytics lake under LAKE_ROOT as Parquet, one date=YYYY-MM-DD directory per UTC day: "
        "raw/events (as stored), clean/events (no bots, no copies, no test orders, pseudonymous ids), "
        "curated/sessions, curated/daily_metrics, curated/daily_searches and curated/experiment_results "
        "(today's snapshot). Only days missing from the lake or changed since their export are written, "
        "each swapped in at once (readers never see half a day); running it again is safe. Days: the last "
        "LAKE_DEFAULT_DAYS by default, --days N, --from/--to, or --full (every day the event store keeps)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", type=_day, help="last day, YYYY-MM-DD (default: today, UTC)")
        parser.add_argument("--days", type=int, help="the last N days, today included")
        parser.add_argument("--full", action="store_true", help="every day from the oldest event kept to today")
        parser.add_argument("--force", action="store_true", help="rewrite the days even when unchanged")
        parser.add_argument("--zone", dest="zones", action="append", choices=lake.ZONES,
                            help="only this zone (repeatable; default: all three)")
        parser.add_argument("--quiet", action="store_true", help="no progress lines, only errors")

    def handle(self, *args, start: date | None, end: date | None, days: int | None, full: bool, force: bool,
               zones: list[str] | None, quiet: bool, **options):
        if sum(bool(x) for x in (start or end, days, full)) > 1:
            raise CommandError("give one of --from/--to, --days, --full")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if full:
            chosen = lake.stored_days()
        elif start or end:
            today = lake.recent_days(1)[0]
            chosen = lake.days_between(start or end or today, end or today)
            if not chosen:
                raise CommandError("--from is after --to")
        else:
            chosen = lake.recent_days(days or settings.LAKE_DEFAULT_DAYS)
        began = time.monotonic()

        def progress(report: lake.DayReport, index: int, total: int) -> None:
            if quiet:
                return
            filled = round(BAR * index / total)
            line = (f"{report.label:<27} {report.day} [{'#' * filled}{'.' * (BAR - filled)}] "
                    f"{report.rows:>11,} rows  {report.status}")
            if report.status == "written":
                line += f" {_size(report.bytes)} in {report.seconds:.1f}s"
                if report.dropped:
                    line += f" ({report.dropped:,} left out)"
            self.stdout.write(line)

        try:
            reports = lake.export(days=chosen, zones=zones or lake.ZONES, force=force, progress=progress)
        except lake.LakeBusy as exc:
            raise CommandError(f"{exc}; try again later") from exc
        if not quiet:
            written = [r for r in reports if r.status == "written"]
            self.stdout.write(self.style.SUCCESS(
                f"{len(written)} day file(s) written ({sum(r.rows for r in written):,} rows), "
                f"{sum(r.status == 'unchanged' for r in reports)} unchanged, "
                f"{sum(r.status == 'empty' for r in reports)} empty, in {time.monotonic() - began:.1f}s "
                f"to {lake.Lake.from_settings().root}"))
