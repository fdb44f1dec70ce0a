"""Fast inserts of many rows, for loaders that write hundreds of thousands of rows at once.

On PostgreSQL rows are streamed with ``COPY ... FROM STDIN`` (ids, when wanted, are taken from
the table's sequence first); elsewhere (SQLite) they go through ``bulk_create``. Each app calls
this only from its own ``bulk`` module, for its own tables. Rows skip model ``save()``: callers
validate and fill every column themselves (defaults are not applied).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, models

BATCH_SIZE = 2000


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _columns(model: type[models.Model], fields: Sequence[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in fields]


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys from the table's sequence (PostgreSQL only)."""
    if count <= 0:
        return []
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
        )
        return [row[0] for row in cursor.fetchall()]


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence], *, with_ids: bool = False
) -> list[int]:
    """Insert ``rows`` (tuples in ``fields`` order; use attnames such as ``product_id``).

    Returns the new primary keys in row order when ``with_ids``, else an empty list.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return []
    if is_postgres():
        return _copy(model, fields, rows, with_ids=with_ids)
    objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
    model.objects.bulk_create(objs, batch_size=BATCH_SIZE // 4)
    return [obj.pk for obj in objs] if with_ids else []


def _copy(model: type[models.Model], fields: Sequence[str], rows: list[Sequence], *, with_ids: bool) -> list[int]:
    columns = _columns(model, fields)
    ids: list[int] = []
    if with_ids:
        ids = reserve_ids(model, len(rows))
        columns = [model._meta.pk.column, *columns]
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({quoted}) FROM STDIN"  # noqa: S608
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        if with_ids:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row((pk, *row))
        else:
            for row in rows:
                copy.write_row(row)
    return ids


def analyze(*models_: type[models.Model], vacuum: bool = False) -> None:
    """Refresh the planner's statistics after a large load (PostgreSQL; a no-op elsewhere).

    ``vacuum`` also reclaims the dead rows left by mass updates (and marks pages all-visible,
    for index-only scans); VACUUM cannot run in a transaction, so inside one only ANALYZE runs.
    """
    if not is_postgres():
        return
    command = "VACUUM ANALYZE" if vacuum and not connection.in_atomic_block else "ANALYZE"
    with connection.cursor() as cursor:
        for model in models_:
            cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
