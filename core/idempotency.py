"""Creating a row once under an API client's Idempotency-Key.

A client that lost the answer to a create sends the same request again with the same key; it must
find what the first request made, not make a second (a second removal order would send the units
back twice; a second purchase order would buy twice). The key is kept on the row with a digest of
the request (:class:`CreatedOnce`) and is unique per owner, so two requests with one key
arriving at once make one row: the loser's insert fails on the unique index, its transaction is
rolled back as a whole, and it answers with the winner's row. The same key with another request is
:class:`IdempotencyKeyReused` (a new request needs a new key), as Stripe answers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.exceptions import ApplicationError, IdempotencyKeyReused

T = TypeVar("T")


class CreatedOnce(models.Model):
    """A row an API client may create under its Idempotency-Key (see create_once): the key and a
    digest of the request that made it, so the same request again finds this row instead of making a
    second. Concrete models add a unique constraint on (owner, ``idempotency_key``) for non-empty keys."""

    idempotency_key = models.CharField(max_length=80, blank=True, default="", editable=False)
    request_digest = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        abstract = True


def checked_key(key: str | None) -> str:
    """The key as sent, stripped; refused unless 1 to 80 printable characters (a control character,
    NUL above all, is sent by no real client and PostgreSQL text cannot hold NUL)."""
    key = (key or "").strip()
    if not key or len(key) > 80 or not key.isprintable():
        raise ApplicationError(_("Send an Idempotency-Key header of 1 to 80 printable characters."),
                               fields={"Idempotency-Key": [_("Required, at most 80 printable characters.")]})
    return key


def digest(parts: Any) -> str:
    """A fingerprint of a request's meaningful parts (JSON-able; put lists in a stable order)."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).hexdigest()


def create_once(*, owned: QuerySet, key: str, request: str, create: Callable[[], T],
                reused: Callable[[T], str]) -> tuple[T, bool]:
    """``create()`` unless ``owned`` (the owner's rows) has one made under ``key``: (row, created).

    ``request`` is the request's :func:`digest`; a row made under the key by another request is
    :class:`IdempotencyKeyReused` with the message ``reused(row)``. Check who may create before
    calling: nothing should be revealed about a key to whoever may not."""
    key = checked_key(key)
    existing = _made_under(owned, key, request, reused)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            made = create()
            type(made).objects.filter(pk=made.pk).update(idempotency_key=key, request_digest=request)
    except IntegrityError:  # the same key won a race: everything ours did was rolled back
        existing = _made_under(owned, key, request, reused)
        if existing is None:
            raise
        return existing, False
    made.idempotency_key, made.request_digest = key, request
    return made, True


def _made_under(owned: QuerySet, key: str, request: str, reused: Callable[[Any], str]):
    existing = owned.filter(idempotency_key=key).first()
    if existing is not None and existing.request_digest != request:
        raise IdempotencyKeyReused(reused(existing))
    return existing
