"""Membership's domain events (recorded with ``core.events.record``; aggregate ``subscription``)."""

JOINED = "membership.joined"  # subscription_id, user_id, plan (slug), interval, status
STATUS_CHANGED = "membership.status_changed"  # subscription_id, user_id, from_status, to_status
AGGREGATE = "subscription"
