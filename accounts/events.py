"""Accounts' domain events (recorded with ``core.events.record``; aggregate ``user``)."""

SIGNED_UP = "accounts.signed_up"  # user_id, visitor_id (the browser's anonymous id, "" from elsewhere)
AGGREGATE = "user"
# The customer closed their account: what identified them is gone from accounts (e-mail, name,
# password, addresses, API tokens); the other contexts forget it too (insights: their events;
# catalog: pages that showed their name on reviews).
ACCOUNT_CLOSED = "accounts.account_closed"  # user_id
