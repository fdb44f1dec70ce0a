"""Domain events: named facts, dispatched to subscribers after the transaction commits.

Services call :func:`emit`; subscribers register with :func:`subscribe` from their app's
``AppConfig.ready``. Nothing runs inside the writing transaction, so a failing subscriber
never rolls back the write that produced the event. (Insights will persist every event.)
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any]
    occurred_at: Any = field(default_factory=timezone.now)


Handler = Callable[[Event], None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(name: str, handler: Handler) -> None:
    """Call ``handler(event)`` after commit for every event called ``name`` ("*" for all)."""
    if handler not in _subscribers[name]:
        _subscribers[name].append(handler)


def emit(name: str, **payload: Any) -> Event:
    event = Event(name=name, payload=payload)
    transaction.on_commit(lambda: _dispatch(event))
    return event


def _dispatch(event: Event) -> None:
    for handler in [*_subscribers.get(event.name, []), *_subscribers.get("*", [])]:
        try:
            handler(event)
        except Exception:
            logger.exception("event handler %r failed for %s", handler, event.name)
