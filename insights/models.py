"""Insights: the event store, sessions, daily KPIs, experiment results and recommendations."""
