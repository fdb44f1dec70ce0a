"""Admin helpers shared by every app."""

from __future__ import annotations

import re

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.exceptions import ApplicationError
from core.models import DomainEvent, OutboxMessage
from core.money import format_money


def requires_permission(perm: str):
    """The ``has_<name>_permission`` method behind an admin action declared with
    ``@admin.action(permissions=["<name>"])``: only users holding ``perm`` ("app_label.codename")
    see the action, and Django refuses a forged POST naming it (the action is not in the list).

        has_refund_order_permission = requires_permission("orders.refund_order")
    """

    def has_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(perm)

    has_permission.__doc__ = f"Whether the user holds {perm}."
    return has_permission


def service_error_message(exc: ApplicationError | ValidationError) -> str:
    """What a refusing service said, as one line for an admin message."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return exc.message


class ServiceErrorsAdminMixin:
    """Forms check what they can; a service that still refuses (a race, say) rolls the whole save
    back, and the form is shown again with what was typed and the service's message (above the
    form, and beside the fields it names), instead of a server error or an emptied form."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ApplicationError, ValidationError) as exc:
            if request.method == "POST" and getattr(request, "_service_refusal", None) is None:
                # The save was rolled back; the same POST again, with a form that carries the
                # refusal as its errors, is not saved and is shown with everything typed.
                request._service_refusal = exc
                try:
                    return super().changeform_view(request, object_id, form_url, extra_context)
                except (ApplicationError, ValidationError):
                    pass  # refused before its form (a page of its own): the message, on the page again
            self.message_user(request, service_error_message(exc), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_service_refusal", None)
        if refusal is None:
            return form

        class Refused(form):
            def clean(self):
                cleaned = super().clean()
                self.add_error(None, service_error_message(refusal))  # above the form, always
                for name, problems in (getattr(refusal, "fields", None) or {}).items():
                    if name in self.fields:  # and beside the fields it names
                        self.add_error(name, problems)
                return cleaned

        Refused.__name__ = form.__name__
        return Refused


def money_column(amount, currency: str | None = None) -> str:
    """An amount in a change list: formatted with its currency, or "-" when there is none."""
    return format_money(amount, currency) if amount is not None else "-"


class InvalidateAfterDeleteMixin:
    """Call ``after_delete()`` (e.g. a cache bump) after a row or a selection is deleted in admin.

    Saving goes through each admin's own service call, which invalidates by itself.
    """

    def after_delete(self) -> None:  # pragma: no cover - every user overrides it
        raise NotImplementedError

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.after_delete()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self.after_delete()


class ReadOnlyAdminMixin:
    """A record nobody adds, edits or deletes by hand in admin (ledgers, computed rows, history):
    it can only be looked at. Put it before ``admin.ModelAdmin`` in the bases."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows shown under their parent for reading only (charges, events, packages...)."""

    extra = 0
    can_delete = False


@admin.register(DomainEvent)
class DomainEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The event log: what happened to which aggregate, in order (read only; kept
    EVENT_RETENTION_DAYS; ``manage.py events_replay`` hands events to their consumers again)."""

    list_display = ("id", "name", "aggregate", "aggregate_id", "occurred_at")
    list_filter = ("name", "aggregate")
    search_fields = ("=aggregate_id", "name")
    fields = ("name", "aggregate", "aggregate_id", "payload", "occurred_at")
    show_full_result_count = False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Celery tasks handed over after their transaction committed: waiting ones (the broker was
    down) and, for the retention period, sent ones. Only looked at; the sweeper sends them."""

    list_display = ("id", "task_name", "created_at", "sent_at", "attempts", "last_error_short")
    list_filter = (("sent_at", admin.EmptyFieldListFilter), "task_name")
    search_fields = ("task_name",)
    fields = ("task_name", "args", "kwargs", "created_at", "available_at", "sent_at", "attempts", "last_error")
    show_full_result_count = False

    @admin.display(description=_("last error"))
    def last_error_short(self, obj: OutboxMessage) -> str:
        return obj.last_error[:80]


# --- links to pages the viewer may not open ---------------------------------------------------------

_LINK = re.compile(r'<a href="(?P<url>[^"]+)"(?P<attrs>[^>]*)>(?P<text>.*?)</a>', re.DOTALL)


def _change_page(url: str, prefix: str) -> tuple[str, str, str] | None:
    """(app label, model name, object id) of an admin change page's URL, else None."""
    if not url.startswith(prefix) or not url.endswith("/change/"):
        return None
    parts = url[len(prefix):-len("/change/")].split("/")
    return (parts[0], parts[1], unquote(parts[2])) if len(parts) == 3 else None


def _openable(request, wanted: dict[tuple[str, str], set[str]]) -> set[tuple[str, str, str]]:
    """Of the objects ``wanted`` ((app, model) -> ids), those whose change page ``request.user``
    may open: in its admin's queryset (a seller's rows for a seller's member) with the view or
    change permission. One query per model."""
    openable = set()
    registry = {(m._meta.app_label, m._meta.model_name): a for m, a in admin.site._registry.items()}
    for key, ids in wanted.items():
        model_admin = registry.get(key)
        if model_admin is None or not model_admin.has_view_or_change_permission(request):
            continue
        pk = model_admin.model._meta.pk
        valid = set()
        for value in ids:
            try:
                valid.add(pk.to_python(value))
            except ValidationError:
                continue
        for obj in model_admin.get_queryset(request).filter(pk__in=valid):
            if model_admin.has_view_or_change_permission(request, obj):
                openable.add((*key, str(obj.pk)))
    return openable


def unlink_refused(request, html: str) -> str:
    """``html`` with every link to an admin change page ``request.user`` may not open turned into
    its text. Django's read-only foreign keys (and an object's inlines) link the related object
    without asking: a seller's member was sent to orders, users and categories that answered 403."""
    prefix = reverse("admin:index")
    found = {}
    for match in _LINK.finditer(html):
        if page := _change_page(match["url"], prefix):
            found.setdefault(page[:2], set()).add(page[2])
    if not found:
        return html
    openable = _openable(request, found)

    def keep_or_text(match: re.Match) -> str:
        page = _change_page(match["url"], prefix)
        return match[0] if page is None or page in openable else match["text"]

    return _LINK.sub(keep_or_text, html)


class AdminLinkGuardMiddleware:
    """On admin change pages, links to other objects' change pages the viewer may not open become
    plain text (:func:`unlink_refused`). Superusers open everything: their pages are left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (response.status_code == 200 and request.path.endswith("/change/") and not response.streaming
                and request.path.startswith(reverse("admin:index"))
                and response.get("Content-Type", "").startswith("text/html")
                and user is not None and user.is_authenticated and not user.is_superuser):
            response.content = unlink_refused(request, response.content.decode(response.charset))
        return response


def view_on_site(request, content_type_id: int, object_id: str):
    """Admin's "view on site" redirect (``/admin/r/<type>/<id>/``), for objects the viewer may
    open in admin only: Django's own redirects for any object, and its target's address can tell
    what it is (a product another seller proposed, not yet public, is named in its slug)."""
    from django.contrib.contenttypes.views import shortcut

    content_type = ContentType.objects.filter(pk=content_type_id).first()
    model = content_type.model_class() if content_type else None
    model_admin = admin.site._registry.get(model) if model else None
    obj = model_admin.get_object(request, unquote(object_id)) if model_admin else None
    if obj is None or not model_admin.has_view_or_change_permission(request, obj):
        raise Http404(_("Nothing to show."))
    if callable(model_admin.view_on_site) and not model_admin.view_on_site(obj):
        raise Http404(_("Nothing to show."))  # no page on the site (a product not public yet)
    return shortcut(request, content_type_id, object_id)
