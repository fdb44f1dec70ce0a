"""Fast inserts of many rows, for loaders that write hundreds of thousands of rows at once.

On PostgreSQL rows are streamed with ``COPY ... FROM STDIN`` (ids, when wanted, are taken from
the table's sequence first); elsewhere (SQLite) they go through ``bulk_create``. Each app calls
this only from its own ``bulk`` module, for its own tables. Rows skip model ``save()``: callers
validate and fill every column themselves (defaults are not applied).

:func:`any_of` filters on thousands of ids at once (reads that batch over a loader's rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import EmptyResultSet
from django.db import connection, models, transaction
from django.db.models import F, Lookup

BATCH_SIZE = 2000


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


class _AnyOf(Lookup):
    """``lhs = ANY(%s)`` with every value in one array parameter on PostgreSQL (``__in`` builds,
    sends and plans one parameter per value: tens of milliseconds for thousands of ids);
    ``lhs IN (...)`` elsewhere."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]


def any_of(field: str, values: Iterable[int]) -> Lookup:
    """A filter ``field`` in ``values`` (integers) for many values: ``qs.filter(any_of("offer_id", ids))``."""
    return _AnyOf(F(field), list(values))


def _columns(model: type[models.Model], fields: Sequence[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in fields]


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys of ``model``'s table, in increasing order, for rows inserted
    later with ``insert_rows(..., ids=...)``: a loader can then write rows that point at them
    first (in the same transaction: foreign keys are checked at commit), or hand them out in a
    fixed order to several writers.

    PostgreSQL takes them from the table's sequence (never given out twice, even when the
    transaction rolls back). SQLite moves the table's AUTOINCREMENT counter on by ``count``, in
    the current transaction or one of its own (its write lock keeps anyone else from taking the
    same ids meanwhile).
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    column = model._meta.pk.column
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
            return [row[0] for row in cursor.fetchall()]
    if connection.vendor != "sqlite":
        raise NotImplementedError(f"reserve_ids on {connection.vendor}")
    quoted_table, quoted_column = connection.ops.quote_name(table), connection.ops.quote_name(column)
    with transaction.atomic(), connection.cursor() as cursor:
        # Take the write lock first, so nobody inserts between the reads below and the update.
        cursor.execute("UPDATE sqlite_sequence SET seq = seq WHERE name = %s", [table])
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        cursor.execute(f"SELECT MAX({quoted_column}) FROM {quoted_table}")  # noqa: S608
        last = max(row[0] if row else 0, cursor.fetchone()[0] or 0)
        if row:
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [last + count, table])
        else:
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, last + count])
    return list(range(last + 1, last + count + 1))


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence], *, with_ids: bool = False,
    ids: Sequence[int] | None = None,
) -> list[int]:
    """Insert ``rows`` (tuples in ``fields`` order; use attnames such as ``product_id``).

    ``ids``: primary keys taken earlier with :func:`reserve_ids`, one per row. Returns the
    primary keys in row order when ``with_ids`` or ``ids``, else an empty list.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    fields, rows = _with_defaults(model, fields, rows)
    if ids is not None:
        if len(ids) != len(rows):
            raise ValueError(f"{len(ids)} ids for {len(rows)} rows")
        fields = [model._meta.pk.attname, *fields]
        rows = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
    if not rows:
        return []
    if is_postgres():
        new_ids = _copy(model, fields, rows, with_ids=with_ids and ids is None)
        return list(ids) if ids is not None else new_ids
    objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
    model.objects.bulk_create(objs, batch_size=BATCH_SIZE // 4)
    return [obj.pk for obj in objs] if with_ids or ids is not None else []


def _with_defaults(model: type[models.Model], fields: Sequence[str], rows: list[Sequence]
                   ) -> tuple[Sequence[str], list[Sequence]]:
    """``fields`` and ``rows`` completed with the model's defaults for the columns not given (a
    default, or "" for a blank text field), as the ORM would: a field added to a model later
    never makes a loader write NULL into a NOT NULL column. Each default is computed once."""
    given = {model._meta.get_field(name).attname for name in fields}
    missing = [f for f in model._meta.concrete_fields
               if not f.primary_key and f.attname not in given
               and (f.has_default() or (f.blank and f.empty_strings_allowed and not f.null))]
    if not missing or not rows:
        return fields, rows
    defaults = tuple(f.get_default() for f in missing)
    return [*fields, *(f.attname for f in missing)], [(*row, *defaults) for row in rows]


def _copy(model: type[models.Model], fields: Sequence[str], rows: list[Sequence], *, with_ids: bool) -> list[int]:
    columns = _columns(model, fields)
    ids: list[int] = []
    if with_ids:
        ids = reserve_ids(model, len(rows))
        columns = [model._meta.pk.column, *columns]
    rows = _datetimes_as_text(model, fields, rows)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({quoted}) FROM STDIN"  # noqa: S608
    # The raw psycopg cursor (for COPY), with its errors turned into Django's (IntegrityError...).
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        if with_ids:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row((pk, *row))
        else:
            for row in rows:
                copy.write_row(row)
    return ids


def _datetimes_as_text(model: type[models.Model], fields: Sequence[str], rows: list[Sequence]) -> list[Sequence]:
    """Datetimes as ISO 8601 text, each distinct value formatted once: loaders repeat a few values
    (the time of the load) hundreds of thousands of times, and psycopg takes microseconds to dump
    each datetime into a COPY row."""
    positions = [i for i, name in enumerate(fields) if isinstance(model._meta.get_field(name), models.DateTimeField)]
    if not positions:
        return rows
    texts: dict[datetime, str] = {}
    converted = []
    for row in rows:
        row = list(row)
        for i in positions:
            value = row[i]
            if value is not None:
                text = texts.get(value)
                if text is None:
                    text = texts[value] = value.isoformat()
                row[i] = text
        converted.append(row)
    return converted


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
