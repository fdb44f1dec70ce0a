"""The demo's A/B experiment, created through the experiments app's services (idempotent).

``cart-membership-banner``: non-members whose cart would cost less with the featured plan see
either the cart as it was (control: one line saying what joining would save) or a banner that
says it prominently, with a "Join" button (treatment). 50/50, everyone, running from the seed on.
The seeder calls :func:`seed_experiments` once its data is in place.
"""

from __future__ import annotations

from datetime import datetime

from experiments import services as experiments_services

CART_MEMBERSHIP_BANNER = "cart-membership-banner"


def seed_experiments(*, started_at: datetime | None = None) -> list[str]:
    """Create the demo experiment (if missing) and start it (if not running), at ``started_at``
    (default now; the demo traffic starts it on its first day). Returns the keys of the
    experiments it started."""
    experiment = experiments_services.experiment_create(
        key=CART_MEMBERSHIP_BANNER,
        name="Cart: membership savings banner",
        hypothesis=("Non-members who see what joining would save on this very cart, as a banner with a Join "
                    "button, join more often and convert at least as well (guardrail: cancellations)."),
        variants=[("control", "Savings line (as today)", 50), ("banner", "Savings banner", 50)],
    )
    if experiment.status == "draft":
        experiments_services.experiment_start(experiment=experiment, note="demo data", now=started_at)
        return [experiment.key]
    return []
