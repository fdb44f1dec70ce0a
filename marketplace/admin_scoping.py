"""Seller isolation in admin (invariant 7 in docs/architecture.md), written once and used by every seller-facing admin.

A signed-in user who is not a superuser and belongs to a seller (a ``SellerMember`` row) or to one of
the seller role groups is *seller-scoped*. Their Django permissions come from the group of their role
(``marketplace.roles``); on top of that, for them every admin using :class:`SellerScopedAdminMixin`

* lists only rows of their sellers where their role lets them see this model (``get_queryset``,
  which Django also uses for the change, delete and history pages and for autocompletes, so another
  seller's id in a URL is "not found");
* refuses to show, change or delete a row of a seller where their role does not allow it, even when
  the row is handed over directly (``has_*_permission`` with an object): an owner at one seller who
  is staff at another changes offers at the first only;
* offers as foreign-key choices only the sellers (and those sellers' rows) where their role lets them
  add or change this model, never Bazaar's shared rows, so a tampered seller, offer or warehouse id
  in a POST is an invalid choice, i.e. a form error and nothing saved; with exactly one such seller,
  the seller field is that seller.

Superusers and platform staff (staff who belong to no seller) see everything their permissions allow.
"""

from __future__ import annotations

from django import forms
from django.db.models import Q, QuerySet

from marketplace import roles, selectors
from marketplace.models import Seller

_SCOPE_ATTR = "_bazaar_seller_scope"
_ROLES_ATTR = "_bazaar_seller_roles"
_UNSET = object()


def seller_scope(request) -> frozenset[int] | None:
    """Ids of the sellers ``request.user`` is limited to, or None when not limited (cached per request)."""
    cached = getattr(request, _SCOPE_ATTR, _UNSET)
    if cached is not _UNSET:
        return cached
    scope = selectors.seller_scope_for_user(getattr(request, "user", None))
    setattr(request, _SCOPE_ATTR, scope)
    return scope


def seller_ids_allowed(request, perm: str) -> frozenset[int] | None:
    """Sellers where ``request.user``'s role grants ``perm`` ("app_label.codename"), or None when the
    user is not seller-scoped (their own permissions decide). Cached per request."""
    scope = seller_scope(request)
    if scope is None:
        return None
    held = getattr(request, _ROLES_ATTR, None)
    if held is None:
        held = selectors.seller_roles_for_user(request.user)
        setattr(request, _ROLES_ATTR, held)
    return frozenset(seller_id for seller_id in scope if roles.role_allows(held.get(seller_id), perm))


class SellerScopedAdminMixin:
    """Mix into a ModelAdmin or InlineModelAdmin (before it) whose rows belong to a seller."""

    #: ORM path from this model to its seller: "seller", "offer__seller", or "pk" for Seller itself.
    seller_lookup: str = "seller"
    #: Rows without a seller (Bazaar's own warehouses) are visible to scoped users, read-only.
    seller_shared_rows: bool = False

    # --- which rows ---------------------------------------------------------------------------

    def seller_perm(self, action: str) -> str:
        """This model's Django permission for ``action`` (view, add, change, delete)."""
        return f"{self.opts.app_label}.{action}_{self.opts.model_name}"

    def seller_scope_q(self, seller_ids: frozenset[int], *, shared: bool | None = None) -> Q:
        q = Q(**{f"{self.seller_lookup}__in": sorted(seller_ids)})
        if self.seller_shared_rows if shared is None else shared:
            q |= Q(**{f"{self.seller_lookup}__isnull": True})
        return q

    def scope_queryset(self, request, queryset: QuerySet, *, perm: str | None = None,
                       shared: bool | None = None) -> QuerySet:
        """``queryset`` limited to the sellers where the user's role grants ``perm`` (this model's view
        permission by default); ``shared``: include Bazaar's shared rows (default: ``seller_shared_rows``)."""
        allowed = seller_ids_allowed(request, perm or self.seller_perm("view"))
        if allowed is None:
            return queryset
        return queryset.filter(self.seller_scope_q(allowed, shared=shared))

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

    def _allows(self, request, obj, action: str) -> bool:
        # Inlines are asked about their parent object: only rows of this model are judged here.
        if obj is None or not isinstance(obj, self.model):
            return True
        allowed = seller_ids_allowed(request, self.seller_perm(action))
        if allowed is None:
            return True
        seller_id = self.seller_id_of(obj)
        if seller_id is None:
            return self.seller_shared_rows and action == "view" and obj.pk is not None
        return seller_id in allowed

    def seller_ids_writable(self, request) -> frozenset[int] | None:
        """Sellers whose rows of this model the user may add or change (None: not seller-scoped)."""
        add, change = seller_ids_allowed(request, self.seller_perm("add")), seller_ids_allowed(
            request, self.seller_perm("change")
        )
        if add is None or change is None:
            return None
        return add | change

    # --- permissions ----------------------------------------------------------------------------

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (
            self._allows(request, obj, "view") or self._allows(request, obj, "change")
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._allows(request, obj, "change")

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._allows(request, obj, "delete")

    # --- choices in forms ---------------------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        writable = self.seller_ids_writable(request)
        if writable is not None and "queryset" not in kwargs:
            related = db_field.related_model
            if related is Seller:
                kwargs["queryset"] = Seller.objects.filter(pk__in=sorted(writable))
                if len(writable) == 1:
                    # Their one seller, fixed: no empty choice, no search box.
                    kwargs["widget"] = forms.Select
                    kwargs["empty_label"] = None
            else:
                related_admin = (
                    self.admin_site.get_model_admin(related) if self.admin_site.is_registered(related) else None
                )
                if isinstance(related_admin, SellerScopedAdminMixin):
                    rows = related._default_manager.filter(related_admin.seller_scope_q(writable, shared=False))
                    kwargs["queryset"] = rows
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        writable = self.seller_ids_writable(request)
        if writable is not None and len(writable) == 1 and self.seller_lookup == "seller":
            initial.setdefault("seller", next(iter(writable)))
        return initial
