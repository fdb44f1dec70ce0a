"""Domain events a test recorded: the event log read back in order (a list-like view)."""

from __future__ import annotations

from core.models import DomainEvent


class RecordedEvents:
    """``for e in seen``, ``seen[-1]``, ``len(seen)``: the events recorded since it was made."""

    def __init__(self) -> None:
        self.after = DomainEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def _all(self) -> list[DomainEvent]:
        return list(DomainEvent.objects.filter(pk__gt=self.after).order_by("id"))

    def __iter__(self):
        return iter(self._all())

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def names(self) -> list[str]:
        return [e.name for e in self._all()]
