"""Accounts background jobs (queue "email", routed by the ``*.send_*`` rule)."""

from smtplib import SMTPException

from celery import shared_task

from accounts import services


@shared_task(
    autoretry_for=(OSError, SMTPException),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def send_password_reset_email(user_id: int, **_queued_before: object) -> bool:
    """E-mail a password-reset link to one user. Takes an id; a user gone or deactivated is skipped.

    The link is built on ``SITE_URL``. Messages queued by an older release also carry ``domain``
    and ``use_https`` (from the request's Host header): they are accepted and ignored."""
    return services.password_reset_email_send(user_id=user_id)
