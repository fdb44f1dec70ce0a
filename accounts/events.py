"""Accounts' domain events (recorded with ``core.events.record``; aggregate ``user``)."""

SIGNED_UP = "accounts.signed_up"  # user_id, visitor_id (the browser's anonymous id, "" from elsewhere)
AGGREGATE = "user"
