"""Admin helpers shared by every app."""

from __future__ import annotations


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
