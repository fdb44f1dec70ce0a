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
def send_password_reset_email(user_id: int, *, domain: str, use_https: bool = True) -> bool:
    """E-mail a password-reset link to one user. Takes an id; a user gone or deactivated is skipped."""
    return services.password_reset_email_send(user_id=user_id, domain=domain, use_https=use_https)
