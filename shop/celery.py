"""The Celery application. Workers: ``celery -A shop worker -Q default,media,email``."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_like_a_request(sender=None, **_kwargs) -> None:
    """Around each task a worker runs, what Django does around each web request: a connection
    older than DB_CONN_MAX_AGE, or left unusable or mid-transaction, is closed (the next query
    opens a fresh one); a healthy one is kept (settings.CELERY_DB_REUSE_MAX). Not for a task run
    eagerly inside a request or another task: that connection is the caller's."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
