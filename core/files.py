"""Files that are never served as media: the project's private storage, for every context.

``STORAGES["private"]`` (settings) keeps files that carry personal data (shipping labels, invoices
and credit notes with buyers' addresses): on disk outside ``MEDIA_ROOT``, on S3 a private bucket or
prefix with short-lived signed links. Nothing links to them directly; only views that check who
asks read them.
"""

from __future__ import annotations

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class _PrivateStorage(LazyObject):
    """``storages["private"]``, looked up when first used (again after a change of ``STORAGES``)."""

    def _setup(self):
        self._wrapped = storages["private"]


_private = _PrivateStorage()


@receiver(setting_changed)
def _private_storage_reset(*, setting, **kwargs) -> None:
    if setting == "STORAGES":
        _private._wrapped = empty


def private_storage():
    """The private storage, for a ``FileField(storage=private_storage)`` (a callable, so migrations
    name the function and settings can change it, as tests do)."""
    return _private
