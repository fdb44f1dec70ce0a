"""``manage.py recommendations``: compute and store every recommendation list now (what the nightly
beat task does), or with ``--evaluate`` print how item-to-item does against the best sellers on a
time-based holdout of the stored purchases."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from insights import recommend, recommendations


class Command(BaseCommand):
    help = "Compute the recommendation lists from the event store, or evaluate them (--evaluate)."

    def add_arguments(self, parser):
        parser.add_argument("--evaluate", action="store_true",
                            help="Hit rate and precision at k on a time-based holdout, against the best sellers.")
        parser.add_argument("--days", type=int, default=None, help="Days of events to learn from (default: "
                                                                   "INSIGHTS_RECS_DAYS).")
        parser.add_argument("--k", type=int, default=10, help="List length evaluated (default 10).")
        parser.add_argument("--holdout", type=float, default=0.2,
                            help="The latest share of the period held out for testing (default 0.2).")

    def handle(self, *args, evaluate: bool, days: int | None, k: int, holdout: float, **options):
        if evaluate:
            rows = recommendations.evaluation(days=days, k=k, holdout_fraction=holdout)
            self.stdout.write(recommend.format_table(rows))
            return
        counts = recommendations.recommendations_compute(days=days)
        for kind, count in counts.items():
            self.stdout.write(f"{kind}: {count} stored")
