"""Sessions in the database (see ``SESSION_ENGINE`` in settings), read with one prepared statement.

Every request of a signed-in shopper or of a guest with a cart reads its session, cached pages
included, and building Django's queryset for that read cost more than the rest of serving a
cached page. The read is the same row Django reads (the key, not expired); writes, expiry and
clean-up are Django's own.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())  # as the ORM sends it (SQLite too)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {model._meta.db_table} WHERE session_key = %s AND expire_date > %s",  # noqa: S608
                [self.session_key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django does: an unknown or expired key starts a new session
            return None
        return model(session_key=self.session_key, session_data=row[0])  # load() reads only the data
