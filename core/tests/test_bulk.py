"""Fast inserts for loaders (``core.bulk``): ids taken up front, datetimes written as they were
given, and filters on thousands of ids."""

from datetime import UTC, datetime, timedelta

import pytest

from core import bulk
from core.models import OutboxMessage

pytestmark = pytest.mark.django_db

FIELDS = ["task_name", "args", "kwargs", "created_at", "available_at", "sent_at", "attempts", "last_error"]


def _rows(count: int, when: datetime) -> list[tuple]:
    return [(f"task-{n}", "[]", "{}", when, when + timedelta(minutes=n), None, n, "") for n in range(count)]


def test_reserved_ids_are_fresh_increasing_and_used_as_given():
    before = OutboxMessage.objects.create(task_name="before")
    ids = bulk.reserve_ids(OutboxMessage, 5)
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert min(ids) > before.pk
    after = OutboxMessage.objects.create(task_name="after")  # nobody else gets a reserved id
    assert after.pk not in ids

    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert bulk.insert_rows(OutboxMessage, FIELDS, _rows(5, when), ids=ids) == ids
    stored = {m.pk: m for m in OutboxMessage.objects.filter(pk__in=ids)}
    for n, pk in enumerate(ids):
        assert stored[pk].task_name == f"task-{n}"
        assert stored[pk].created_at == when
        assert stored[pk].available_at == when + timedelta(minutes=n)
        assert stored[pk].sent_at is None


def test_ids_must_match_the_rows():
    with pytest.raises(ValueError, match="2 ids for 3 rows"):
        bulk.insert_rows(OutboxMessage, FIELDS, _rows(3, datetime.now(UTC)), ids=[1, 2])
    assert bulk.reserve_ids(OutboxMessage, 0) == []


def test_new_ids_come_back_in_row_order():
    ids = bulk.insert_rows(OutboxMessage, FIELDS, _rows(4, datetime.now(UTC)), with_ids=True)
    assert [OutboxMessage.objects.get(pk=pk).task_name for pk in ids] == [f"task-{n}" for n in range(4)]
    assert bulk.insert_rows(OutboxMessage, FIELDS, _rows(2, datetime.now(UTC))) == []
    assert OutboxMessage.objects.count() == 6


def test_any_of_matches_in_for_many_ids():
    OutboxMessage.objects.bulk_create([OutboxMessage(task_name=f"t{n}") for n in range(30)])
    ids = list(OutboxMessage.objects.values_list("pk", flat=True))
    wanted = ids[::3] + [10**9]  # and one that does not exist
    found = set(OutboxMessage.objects.filter(bulk.any_of("id", wanted)).values_list("pk", flat=True))
    assert found == set(OutboxMessage.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert list(OutboxMessage.objects.filter(bulk.any_of("id", []))) == []
    assert set(OutboxMessage.objects.filter(bulk.any_of("id", iter(ids[:2]))).values_list("pk", flat=True)) == set(
        ids[:2]
    )


def test_fields_not_given_get_the_models_defaults_never_null():
    from fulfillment.models import StockItem
    from tests.factories import OfferFactory, WarehouseFactory

    offer, centre = OfferFactory(), WarehouseFactory()
    now = datetime.now(UTC)
    [pk] = bulk.insert_rows(StockItem, ["offer_id", "warehouse_id", "updated_at"], [(offer.pk, centre.pk, now)],
                            with_ids=True)
    item = StockItem.objects.get(pk=pk)
    assert (item.on_hand, item.reserved, item.bin) == (0, 0, "")  # defaults, and "" for a blank text field
