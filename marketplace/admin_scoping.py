"""Seller isolation in admin (DESIGN invariant 7), written once and used by every seller-facing admin.

A signed-in user who is not a superuser and belongs to a seller (a ``SellerMember`` row) or to the
"Seller staff" group is *seller-scoped*. For them every admin using :class:`SellerScopedAdminMixin`

* lists only rows of their sellers (``get_queryset``, which Django also uses for the change,
  delete and history pages and for autocompletes, so another seller's id in a URL is "not found");
* refuses to show, change or delete another seller's row even when one is handed over directly
  (``has_*_permission`` with an object);
* offers only their sellers, and rows of their sellers, as foreign-key choices, so a tampered seller,
  offer or warehouse id in a POST is an invalid choice, i.e. a form error and nothing saved; with
  exactly one seller, the seller field is that seller.

Superusers and platform staff (staff who belong to no seller) see everything their permissions allow.
"""

from __future__ import annotations

from django import forms
from django.db.models import Q, QuerySet

from marketplace import selectors
from marketplace.models import Seller
from marketplace.services import SELLER_GROUP

_SCOPE_ATTR = "_bazaar_seller_scope"
_UNSET = object()


def seller_scope(request) -> frozenset[int] | None:
    """Ids of the sellers ``request.user`` is limited to, or None when not limited (cached per request)."""
    cached = getattr(request, _SCOPE_ATTR, _UNSET)
    if cached is not _UNSET:
        return cached
    user = getattr(request, "user", None)
    scope: frozenset[int] | None = None
    if user is not None and user.is_authenticated and not user.is_superuser:
        ids = selectors.seller_ids_for_user(user)
        # A former member still in the seller group sees nothing rather than everything.
        if ids or user.groups.filter(name=SELLER_GROUP).exists():
            scope = frozenset(ids)
    setattr(request, _SCOPE_ATTR, scope)
    return scope


class SellerScopedAdminMixin:
    """Mix into a ModelAdmin or InlineModelAdmin (before it) whose rows belong to a seller."""

    #: ORM path from this model to its seller: "seller", "offer__seller", or "pk" for Seller itself.
    seller_lookup: str = "seller"
    #: Rows without a seller (Bazaar's own warehouses) are visible to scoped users, read-only.
    seller_shared_rows: bool = False

    # --- which rows ---------------------------------------------------------------------------

    def seller_scope_q(self, scope: frozenset[int]) -> Q:
        q = Q(**{f"{self.seller_lookup}__in": sorted(scope)})
        if self.seller_shared_rows:
            q |= Q(**{f"{self.seller_lookup}__isnull": True})
        return q

    def scope_queryset(self, request, queryset: QuerySet) -> QuerySet:
        scope = seller_scope(request)
        if scope is None:
            return queryset
        return queryset.filter(self.seller_scope_q(scope))

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def seller_id_of(self, obj) -> int | None:
        if self.seller_lookup == "pk":
            return obj.pk
        *path, last = self.seller_lookup.split("__")
        for part in path:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return getattr(obj, f"{last}_id", None)

    def _allows(self, request, obj, *, write: bool) -> bool:
        # Inlines are asked about their parent object: only rows of this model are judged here.
        if obj is None or not isinstance(obj, self.model):
            return True
        scope = seller_scope(request)
        if scope is None:
            return True
        seller_id = self.seller_id_of(obj)
        if seller_id is None:
            return self.seller_shared_rows and not write and obj.pk is not None
        return seller_id in scope

    # --- permissions ----------------------------------------------------------------------------

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._allows(request, obj, write=False)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._allows(request, obj, write=True)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._allows(request, obj, write=True)

    # --- choices in forms ---------------------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = seller_scope(request)
        if scope is not None and "queryset" not in kwargs:
            related = db_field.related_model
            if related is Seller:
                kwargs["queryset"] = Seller.objects.filter(pk__in=sorted(scope))
                if len(scope) == 1:
                    # Their one seller, fixed: no empty choice, no search box.
                    kwargs["widget"] = forms.Select
                    kwargs["empty_label"] = None
            else:
                related_admin = (
                    self.admin_site.get_model_admin(related) if self.admin_site.is_registered(related) else None
                )
                if isinstance(related_admin, SellerScopedAdminMixin):
                    kwargs["queryset"] = related_admin.scope_queryset(request, related._default_manager.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        scope = seller_scope(request)
        if scope is not None and len(scope) == 1 and self.seller_lookup == "seller":
            initial.setdefault("seller", next(iter(scope)))
        return initial
