"""Where a test's transaction "commits".

An ordinary test (``django_db`` without ``transaction=True``) runs inside a transaction that is
rolled back at the end, so ``transaction.on_commit`` callbacks (outbox hand-offs, e-mails,
cache bumps, buy-box refreshes) never run by themselves. A test that checks after-commit work
wraps the calls whose commit it means in :func:`committed`; when the block ends, the callbacks
they registered run in order, as at a real commit, and so do the callbacks those register.
Callbacks of an ``atomic()`` block that rolled back were discarded by Django and do not run.

It is Django's public ``TestCase.captureOnCommitCallbacks(execute=True)`` (pytest-django's
``django_capture_on_commit_callbacks`` fixture), with one addition: a ``committed()`` block
inside another joins it, like a savepoint inside a transaction, so helpers that commit what they
do (``place()`` in checkout tests...) can be called inside a test's own block without running
anything twice. Tests that need real commits (threads, other connections) use
``transaction=True``; there ``committed()`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS
from django.test import TestCase

_open: ContextVar[bool] = ContextVar("committed_block_open", default=False)


@contextmanager
def committed(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[list]:
    """Run the on-commit callbacks registered inside the block when it ends. Yields the list of
    callbacks that ran (empty until the block ends; always empty for an inner block)."""
    if _open.get():
        yield []
        return
    token = _open.set(True)
    try:
        with TestCase.captureOnCommitCallbacks(using=using, execute=True) as callbacks:
            yield callbacks
    finally:
        _open.reset(token)
