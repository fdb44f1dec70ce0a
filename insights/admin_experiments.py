"""The results page of one experiment, in admin: ``/admin/insights/experiments/<id>/results/``.

Installed by :func:`install` (one line at the end of ``insights/admin.py``), which puts the page's
URL in front of the admin site's own, named ``admin:insights_experiment_results``; the experiments
admin links to it by that name without importing insights. Staff need
``experiments.view_experiment``. The page costs a fixed number of queries whatever the number of
variants or events (the experiment and its variants and history, then two SQL statements).
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from experiments import selectors as experiments_selectors
from insights import experiment_results, stats

URL_NAME = "insights_experiment_results"
PERMISSION = "experiments.view_experiment"


def _percent(interval: stats.Interval) -> str:
    return stats.format_interval(interval, 1, percent=True)


def _money(interval: stats.Interval) -> str:
    return stats.format_interval(interval, 2)


def _lift(value: float | None) -> str:
    return stats.format_percent(value, 1, signed=True)


def results_view(request: HttpRequest, site: AdminSite, pk: int) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    experiment = experiments_selectors.experiment_by_id(pk=pk)
    if experiment is None:
        raise Http404("No such experiment.")
    results = experiment_results.results_for(experiment)
    total_weight = sum(row.weight for row in results.variants) or 1
    total_visitors = sum(row.totals.visitors for row in results.variants)
    rows = [{
        "row": row,
        "expected_share": stats.format_percent(row.weight / total_weight),
        "observed_share": stats.format_percent(row.totals.visitors / total_visitors) if total_visitors else "\u2013",
        "conversion": _percent(row.conversion), "aov": _money(row.aov), "rpv": _money(row.rpv),
        "undone": _percent(row.undone_share), "items": stats.format_interval(row.items_per_order, 2),
    } for row in results.variants]
    treatments = [{
        "result": t,
        "conversion_diff": stats.format_interval(t.comparison.conversion.difference, 2, percent=True),
        "conversion_lift": _lift(t.comparison.conversion.relative_lift),
        "conversion_p": stats.format_p_value(t.comparison.conversion.p_value),
        "conversion_always_valid_p": stats.format_p_value(t.comparison.conversion_always_valid_p),
        "aov_diff": _money(t.comparison.aov.difference), "aov_lift": _lift(t.comparison.aov.relative_lift),
        "aov_p": stats.format_p_value(t.comparison.aov.p_value),
        "rpv_diff": _money(t.comparison.rpv.difference), "rpv_lift": _lift(t.comparison.rpv.relative_lift),
        "rpv_p": stats.format_p_value(t.comparison.rpv.p_value),
        "notes": [n for n in (t.comparison.conversion.note, t.comparison.aov.note, t.comparison.rpv.note) if n],
        "guardrails": [{
            "guardrail": g,
            "control": stats.format_interval(g.control, 1, percent=True) if g.percent
            else stats.format_interval(g.control, 2),
            "treatment": stats.format_interval(g.treatment, 1, percent=True) if g.percent
            else stats.format_interval(g.treatment, 2),
            "difference": stats.format_interval(g.difference, 2, percent=True) if g.percent
            else stats.format_interval(g.difference, 2),
            "p": stats.format_p_value(g.p_value),
        } for g in t.guardrails],
    } for t in results.treatments]
    context = {
        **site.each_context(request),
        "title": f"Results: {experiment.name}",
        "experiment": experiment,
        "results": results,
        "rows": rows,
        "treatments": treatments,
        "srm_p": stats.format_p_value(results.srm.p_value) if results.srm else "\u2013",
        "opts": experiment._meta,
    }
    return TemplateResponse(request, "admin/insights/experiment_results.html", context)


def install(site: AdminSite) -> None:
    """Add the results page to ``site``'s URLs (in front, before the catch-all of app indexes)."""
    original = site.get_urls

    def get_urls():
        page = site.admin_view(lambda request, pk: results_view(request, site, pk))
        return [path("insights/experiments/<int:pk>/results/", page, name=URL_NAME), *original()]

    site.get_urls = get_urls
