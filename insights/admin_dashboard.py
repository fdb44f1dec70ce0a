"""The KPI dashboard in admin: "Insights → Dashboard" (``/admin/insights/dailymetric/``), and its CSV.

Registered by :func:`install` (one line at the end of ``insights/admin.py``) as the change list of
:class:`insights.models.DailyMetric`, so the admin index lists it to whoever holds
``insights.view_dailymetric`` and nobody else.

* **Platform staff** (staff who belong to no seller) with that permission see the whole shop, its
  splits by device, channel, category and seller, and the searches; they may pick one seller to see
  that seller's page.
* **Seller members** get the permission from their role (``marketplace.roles``) and see the same
  page restricted to their own seller (to one of theirs, when they belong to several): views of
  their products, sessions that touched them, orders and revenue of their lines, their buy-box
  share. Never another seller's figures, never the shop's totals or searches: a seller id of
  another seller in the URL is refused.

Everything shown is computed by ``insights.rollups.report`` from the stored daily sums, in a
constant number of queries whatever the range; the charts are SVG drawn here, on the server (no
script). Definitions: ``insights.sessions`` and ``insights.rollups`` (and the README).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from insights import rollups
from insights.models import DailyMetric
from marketplace import selectors as marketplace_selectors
from marketplace.admin_scoping import seller_ids_allowed, seller_scope

PERMISSION = "insights.view_dailymetric"
DEFAULT_DAYS = 28
MAX_DAYS = 366
NET_NOTE = gettext_lazy("AOV and revenue per visitor are net of discounts, excluding tax and shipping.")

KPI_LABELS = {
    "sessions": gettext_lazy("Sessions"), "visitors": gettext_lazy("Visitors"), "orders": gettext_lazy("Orders"),
    "revenue": gettext_lazy("Revenue (net)"), "conversion_rate": gettext_lazy("Conversion rate"),
    "average_order_value": gettext_lazy("Average order value"),
    "revenue_per_visitor": gettext_lazy("Revenue per visitor"), "bounce_rate": gettext_lazy("Bounce rate"),
    "cart_abandonment": gettext_lazy("Cart abandonment"), "buy_box_share": gettext_lazy("Buy-box share"),
}
FUNNEL_LABELS = {"list": gettext_lazy("Product list"), "product": gettext_lazy("Product page"),
                 "cart": gettext_lazy("Cart"), "checkout": gettext_lazy("Checkout"), "order": gettext_lazy("Order")}
# Where a lower value is better (the arrow of the change is shown the other way round).
LOWER_IS_BETTER = frozenset({"bounce_rate", "cart_abandonment"})


# --- formatting ------------------------------------------------------------------------------------


def fmt_int(value) -> str:
    return "\u2013" if value is None else f"{int(value):,}"


def fmt_money(value) -> str:
    return "\u2013" if value is None else f"{Decimal(value):,.2f}"


def fmt_percent(value, digits: int = 1) -> str:
    return "\u2013" if value is None else f"{Decimal(value) * 100:.{digits}f}%"


def fmt_kpi(name: str, value) -> str:
    if name in rollups.RATES:
        return fmt_percent(value, 2)
    if name in ("revenue", "average_order_value", "revenue_per_visitor"):
        return fmt_money(value)
    return fmt_int(value)


def fmt_change(delta: rollups.Delta) -> tuple[str, str]:
    """The change's text and its tone ("up", "down" or "flat"; good or bad is the template's CSS)."""
    change = delta.change
    if change is None:
        return "\u2013", "flat"
    tone = "flat" if change == 0 else ("up" if change > 0 else "down")
    text = f"{change:+.2f} pp" if delta.is_rate else f"{change * 100:+.1f}%"
    return text, tone


# --- charts: server-rendered SVG ---------------------------------------------------------------------

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 30


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (a round top for the axis)."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1) if value >= 1 else 10 ** -len(f"{value:.10f}".split(".")[1].lstrip("0"))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _axes(top: float, fmt, days: list[date]) -> list[str]:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = []
    for fraction in (0, 0.5, 1):
        y = TOP + inner_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(top * fraction))}</text>')
    if days:
        picks = sorted({0, len(days) // 2, len(days) - 1})
        for index in picks:
            x = LEFT + (inner_w * (index + 0.5) / len(days))
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{days[index]:%b %d}</text>')
    return parts


def _svg(title: str, body: list[str], *, height: int = HEIGHT) -> SafeString:
    label = escape(title)
    return mark_safe(  # noqa: S308 - every text inside was escaped above, numbers are formatted here
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{label}</title>{"".join(body)}</svg>'
    )


def line_chart(title: str, days: list[date], values: list, previous: list, fmt) -> SafeString:
    """A line per day, and the previous period's line (dashed) under it, day n against day n."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    numbers = [float(v) for v in (*values, *previous) if v is not None]
    top = _nice_max(max(numbers, default=0))
    body = _axes(top, fmt, days)

    def point(index: int, value) -> tuple[float, float]:
        x = LEFT + inner_w * (index + 0.5) / max(len(days), 1)
        return x, TOP + inner_h * (1 - float(value) / top)

    for series, css in ((previous, "previous"), (values, "current")):
        points = [point(i, v) for i, v in enumerate(series) if v is not None]
        if len(points) > 1:
            body.append(f'<polyline class="{css}" fill="none" points="'
                        + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
    for index, value in enumerate(values):
        if value is not None:
            x, y = point(index, value)
            body.append(f'<circle class="current" cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>'
                        f'{days[index]:%Y-%m-%d}: {escape(fmt(value))}</title></circle>')
    return _svg(title, body)


def bar_chart(title: str, days: list[date], values: list, fmt) -> SafeString:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max((float(v) for v in values if v is not None), default=0))
    body = _axes(top, fmt, days)
    slot = inner_w / max(len(days), 1)
    for index, value in enumerate(values):
        height = inner_h * float(value or 0) / top
        x = LEFT + slot * index + slot * 0.15
        body.append(f'<rect class="current" x="{x:.1f}" y="{TOP + inner_h - height:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{height:.1f}"><title>{days[index]:%Y-%m-%d}: {escape(fmt(value))}</title></rect>')
    return _svg(title, body)


def funnel_chart(title: str, steps: list[tuple[str, int]], sessions: int) -> SafeString:
    """Horizontal bars: sessions that reached each step, with their share of all sessions."""
    row, label_w = 34, 120
    height = TOP + row * len(steps) + 6
    widest = max([sessions, *(count for _, count in steps)]) or 1
    body = []
    for index, (step, count) in enumerate(steps):
        y = TOP + row * index
        width = (WIDTH - label_w - 150) * count / widest
        share = fmt_percent(Decimal(count) / sessions if sessions else None)
        body.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(str(FUNNEL_LABELS[step]))}</text>'
                    f'<rect class="current" x="{label_w}" y="{y + 4}" width="{width:.1f}" height="20"/>'
                    f'<text x="{label_w + width + 6:.1f}" y="{y + 17}">{fmt_int(count)} ({share})</text>')
    return _svg(title, body, height=height)


# --- the page --------------------------------------------------------------------------------------


class DashboardForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}))
    seller = forms.TypedChoiceField(label=gettext_lazy("Seller"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, sellers: list[tuple[int, str]], whole_shop: bool, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(pk, name) for pk, name in sellers]
        if whole_shop:
            choices = [("", _("The whole shop")), *choices]
        self.fields["seller"].choices = choices
        self.fields["seller"].required = not whole_shop

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The end of the range is before its start."))
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(_("At most %(days)d days at a time.") % {"days": MAX_DAYS})
        return data


def _today() -> date:
    return datetime.now(UTC).date()


class DashboardAdmin(admin.ModelAdmin):
    """The dashboard as DailyMetric's change list (nothing to add, change or delete)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        if not request.user.has_perm(PERMISSION):
            return False
        allowed = seller_ids_allowed(request, PERMISSION)
        return allowed is None or bool(allowed)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", self.admin_site.admin_view(self.changelist_view), name=f"{prefix}_changelist"),
            path("csv/", self.admin_site.admin_view(self.csv_view), name=f"{prefix}_csv"),
        ]

    # --- what the user may see ---------------------------------------------------------------

    def _context(self, request: HttpRequest) -> dict:
        """The form, the report and who sees what; PermissionDenied for anyone without the right."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        scoped = seller_scope(request) is not None
        if scoped:
            allowed = sorted(seller_ids_allowed(request, PERMISSION) or ())
            sellers = [(s.pk, s.name) for s in marketplace_selectors.sellers_by_ids(ids=allowed)]
        else:
            sellers = list(marketplace_selectors.seller_list().values_list("pk", "name"))
        today = _today()
        data = {"start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), "end": today.isoformat(),
                "seller": str(sellers[0][0]) if scoped and sellers else ""}
        data.update({key: request.GET[key] for key in ("start", "end", "seller") if request.GET.get(key)})
        form = DashboardForm(data, sellers=sellers, whole_shop=not scoped)
        if not form.is_valid():
            if scoped and "seller" in form.errors:
                raise PermissionDenied  # another seller's id
            return {"form": form, "report": None, "scoped": scoped}
        seller_id = form.cleaned_data["seller"]
        if scoped and seller_id not in dict(sellers):
            raise PermissionDenied
        report = rollups.report(start=form.cleaned_data["start"], end=form.cleaned_data["end"], seller_id=seller_id)
        return {"form": form, "report": report, "scoped": scoped, "seller_id": seller_id,
                "seller_name": dict(sellers).get(seller_id, ""), "seller_names": {str(pk): n for pk, n in sellers}}

    # --- views ----------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        context = self._context(request)
        report = context["report"]
        if report is not None:
            context.update(self._figures(report, context))
        context.update(self.admin_site.each_context(request), title=_("Insights dashboard"), opts=self.opts,
                       net_note=NET_NOTE, csv_url=reverse("admin:insights_dailymetric_csv") + "?"
                       + request.GET.urlencode())
        return TemplateResponse(request, "admin/insights/dashboard.html", context)

    def csv_view(self, request):
        context = self._context(request)
        report = context["report"]
        if report is None:
            return HttpResponseBadRequest(_("Choose a valid range of days."), content_type="text/plain")
        labels = {"seller": context["seller_names"]}
        body = rollups.report_csv(report, labels=labels)
        name = f"insights-{report.start.isoformat()}-{report.end.isoformat()}"
        if report.value:
            name += f"-seller-{report.value}"
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    # --- what the page shows --------------------------------------------------------------------

    def _figures(self, report: rollups.Report, context: dict) -> dict:
        days = [day for day, _totals in report.series]
        previous = [totals for _day, totals in report.previous_series]
        seller = report.dimension == DailyMetric.Dimension.SELLER
        names = ["sessions", "visitors", "orders", "revenue", "conversion_rate", "average_order_value",
                 "revenue_per_visitor", "bounce_rate", "cart_abandonment"]
        if seller:
            names.append("buy_box_share")
        deltas = {delta.name: delta for delta in report.deltas}
        tiles = []
        for name in names:
            delta = deltas[name]
            change, tone = fmt_change(delta)
            good = "flat" if tone == "flat" else ("good" if (tone == "up") != (name in LOWER_IS_BETTER) else "bad")
            tiles.append({"label": KPI_LABELS[name], "value": fmt_kpi(name, delta.current),
                          "previous": fmt_kpi(name, delta.previous), "change": change, "tone": good})
        charts = [
            line_chart(_("Sessions per day"), days, [t.sessions for _d, t in report.series],
                       [t.sessions for t in previous], fmt_int),
            line_chart(_("Conversion rate per day"), days, [t.conversion_rate for _d, t in report.series],
                       [t.conversion_rate for t in previous], fmt_percent),
            bar_chart(_("Revenue per day (net)"), days, [t.revenue for _d, t in report.series], fmt_money),
        ]
        if seller:
            charts.append(line_chart(_("Buy-box share per day"), days, [t.buy_box_share for _d, t in report.series],
                                     [t.buy_box_share for t in previous], fmt_percent))
        funnel = funnel_chart(_("Funnel: sessions that reached each step"), report.current.funnel(),
                              report.current.sessions)
        splits = []
        titles = {"device": _("By device"), "channel": _("By channel"), "category": _("By category"),
                  "seller": _("By seller")}
        for dimension in rollups.SPLITS:
            entries = report.splits.get(dimension, [])
            if not entries:
                continue
            rows = [self._split_row(dimension, value, totals, context["seller_names"]) for value, totals in entries]
            splits.append({"title": titles[dimension], "dimension": dimension, "rows": rows})
        return {"tiles": tiles, "charts": charts, "funnel": funnel, "splits": splits, "is_seller": seller}

    @staticmethod
    def _split_row(dimension: str, value: str, totals: rollups.Totals, seller_names: dict) -> dict:
        label = seller_names.get(value, f"#{value}") if dimension == "seller" else (value or "\u2013")
        return {"label": label, "sessions": fmt_int(totals.sessions), "visitors": fmt_int(totals.visitors),
                "orders": fmt_int(totals.orders), "revenue": fmt_money(totals.revenue),
                "conversion": fmt_percent(totals.conversion_rate, 2),
                "aov": fmt_money(totals.average_order_value), "rpv": fmt_money(totals.revenue_per_visitor),
                "bounce": fmt_percent(totals.bounce_rate), "abandonment": fmt_percent(totals.cart_abandonment),
                "views": fmt_int(totals.product_views), "buy_box": fmt_percent(totals.buy_box_share)}


def install(site: admin.AdminSite) -> None:
    """Register the dashboard as DailyMetric's page on ``site`` (once)."""
    if not site.is_registered(DailyMetric):
        site.register(DailyMetric, DashboardAdmin)
