"""Querysets of a fixed shape, turned into SQL once per thread and run again with new values.

Building a queryset and compiling it to SQL costs Django far more than PostgreSQL spends running
it: the cart's lines with their offers, sellers, products, stock and thumbnail take about 2 ms of
Python to build and compile and 0.2 ms to run. The hottest reads of the buying path (the cart on
every add, the offer being added, the cart at checkout) always have the same shape and differ only
in an id, so :class:`CompiledQuery` builds the queryset once with stand-in values, remembers the
SQL and where each stand-in sits among its parameters, and afterwards only runs that SQL with the
real values and turns the rows into model instances as the ORM would (``select_related`` objects
and annotations included).

What it refuses, so a compiled query can never answer differently from the queryset it stands for:

- a stand-in that does not reach the SQL's parameters unchanged (a lookup that transforms it, or
  one Django decides without the database);
- a date or time among the fixed parameters (``timezone.now()`` in a filter would be frozen at the
  first run: pass it as a value instead);
- querysets that are not plain model querysets (``values()``, ``union()`` and the like).

The compiled form is kept per thread and database alias, because a compiler is bound to its
thread's connection; a process compiles each shape once per thread (gunicorn's sync workers and
Celery's prefork children have one). The SQL runs through Django's cursor, so query logging,
``CaptureQueriesContext`` and execute wrappers see it as any other query. The schema is read once:
a migration applied to a running process needs a restart, as for any deploy.
"""

from __future__ import annotations

import datetime
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.transaction import TransactionManagementError

# Stand-ins: values no real query uses as a constant, inside the range of a positive 32-bit integer
# (Django answers a value outside its field's range without asking the database, which would leave
# the stand-in out of the SQL). They are never sent to the database.
_INT_STAND_IN = 1_999_999_937
_STR_STAND_IN = "\u27e8compiled-query-value-{}\u27e9"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str, type], ...]  # (position among the parameters, name of the value, its type)
    compiler: Any  # the SQL compiler of this thread's connection, after as_sql(): select, klass_info
    converters: dict  # column position -> the converters of its value from the database (e.g. decimals)
    init_list: tuple[str, ...]
    model_start: int
    model_end: int
    related_populators: tuple
    annotation_col_map: dict
    locks: bool  # select_for_update(): only inside a transaction, as Django requires


class CompiledQuery:
    """A queryset shape compiled once per thread; ``fetch(**values)`` runs it with these values.

    ``build`` takes the values as keyword arguments (ints or strings) and returns the queryset;
    it is called once per thread with stand-ins, never with the real values.
    """

    def __init__(self, build: Callable[..., QuerySet], *, using: str = DEFAULT_DB_ALIAS):
        self._build = build
        self._names = tuple(inspect.signature(build).parameters)
        self._using = using
        self._ints = {name for name in self._names if self._int_valued(name)}
        self._local = threading.local()

    def fetch(self, **values: int | str) -> list:
        """The model instances the queryset built with ``values`` would give, in its order."""
        if set(values) != set(self._names):
            raise TypeError(f"fetch() takes exactly these values: {', '.join(self._names)}")
        compiled = getattr(self._local, "compiled", None)
        if compiled is None:
            compiled = self._local.compiled = self._compile()
        params = list(compiled.params)
        for position, name, kind in compiled.slots:  # of the type the ORM gave the stand-in (e.g. Int8)
            params[position] = kind(values[name])
        connection = connections[self._using]
        if compiled.locks and connection.get_autocommit():  # as Django refuses it
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return self._instances(compiled, rows)

    def _instances(self, compiled: _Compiled, rows: list) -> list:
        model = compiled.compiler.klass_info["model"]
        objects = []
        if compiled.converters:  # as results_iter() would, without looking the converters up again
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        for row in rows:
            obj = model.from_db(self._using, compiled.init_list, row[compiled.model_start : compiled.model_end])
            for populator in compiled.related_populators:
                populator.populate(row, obj)
            for attname, position in compiled.annotation_col_map.items():
                setattr(obj, attname, row[position])
            objects.append(obj)
        return objects

    def _compile(self) -> _Compiled:
        stand_ins: dict[str, int | str] = {}
        for n, name in enumerate(self._names):
            stand_ins[name] = _INT_STAND_IN - n if name in self._ints else _STR_STAND_IN.format(n)
        queryset = self._build(**stand_ins)
        if not isinstance(queryset, QuerySet) or queryset._iterable_class is not ModelIterable:
            raise ImproperlyConfigured("CompiledQuery needs a queryset of model instances.")
        if queryset._prefetch_related_lookups or queryset._known_related_objects:
            raise ImproperlyConfigured("CompiledQuery cannot prefetch or filter by a model instance; use ids.")
        compiler = queryset.query.get_compiler(using=self._using)
        try:
            with transaction.atomic(using=self._using):  # Django compiles FOR UPDATE only inside one
                sql, params = compiler.as_sql()
        except EmptyResultSet as exc:
            raise ImproperlyConfigured("CompiledQuery: the query is decided without the database.") from exc
        by_stand_in = {value: name for name, value in stand_ins.items()}
        slots, found = [], set()
        for position, param in enumerate(params):
            stand_in = isinstance(param, (int, str)) and not isinstance(param, bool)
            name = by_stand_in.get(param) if stand_in else None
            if name is not None:
                slots.append((position, name, type(param)))
                found.add(name)
            elif isinstance(param, (datetime.date, datetime.time)):
                raise ImproperlyConfigured(
                    f"CompiledQuery: the fixed parameter {param!r} would be frozen at the first run; "
                    "pass it as a value."
                )
        if found != set(self._names):
            missing = ", ".join(sorted(set(self._names) - found))
            raise ImproperlyConfigured(f"CompiledQuery: {missing} did not reach the SQL unchanged.")
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        columns = [column[0] for column in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ImproperlyConfigured("CompiledQuery cannot read composite primary keys.")
        return _Compiled(
            sql=sql, params=tuple(params), slots=tuple(slots), compiler=compiler,
            converters=compiler.get_converters(columns),
            init_list=tuple(f[0].target.attname for f in select[start:end]), model_start=start, model_end=end,
            related_populators=tuple(get_related_populators(klass_info, select, self._using)),
            annotation_col_map=dict(compiler.annotation_col_map or {}), locks=bool(queryset.query.select_for_update),
        )

    def _int_valued(self, name: str) -> bool:
        annotation = inspect.signature(self._build).parameters[name].annotation
        return annotation in (int, "int", inspect.Parameter.empty)


def known_related(instance: Any, **relations: Sequence) -> None:
    """Give ``instance`` these reverse relations as if ``prefetch_related`` had read them: the
    objects in the order given (``instance.lines.all()`` then answers without a query), each
    pointing back at ``instance`` (``line.order`` is ``instance``, no query either). For rows just
    written or read by compiled queries, which cannot prefetch."""
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, objects in relations.items():
        objects = list(objects)
        back = getattr(type(instance), name).field  # the ForeignKey of the related model
        for obj in objects:
            if not back.is_cached(obj):
                back.set_cached_value(obj, instance)
        queryset = getattr(instance, name).all()
        queryset._result_cache = objects
        queryset._prefetch_done = True
        cache[name] = queryset
