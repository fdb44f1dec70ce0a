"""Run the same call from many threads at once, as concurrent requests would (transactional tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from django.db import close_old_connections, connection


def race(call: Callable, args: Sequence[tuple], *, catch: tuple[type[BaseException], ...] = (Exception,)) -> list:
    """``call(*a)`` for every ``a`` in ``args``, each in its own thread with its own database
    connection, released together by a barrier. Returns what each returned, or the exception (of
    a ``catch`` type) it raised, in the order of ``args``."""
    barrier = threading.Barrier(len(args))
    results: list = [None] * len(args)

    def run(i: int) -> None:
        close_old_connections()
        try:
            barrier.wait()
            results[i] = call(*args[i])
        except catch as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
