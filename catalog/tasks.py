"""Catalog background jobs (queue "media")."""

from celery import shared_task

from catalog import services


@shared_task(
    autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5, acks_late=True
)
def make_thumbnail(image_id: int) -> bool:
    """Make the thumbnail of one product image. Safe to run twice."""
    return services.product_image_make_thumbnail(image_id=image_id) is not None


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def forget_closed_author(user_id: int, event_id: int | None = None, **_event) -> int:
    """``accounts.account_closed``: product pages stop showing the closed account's name on its reviews."""
    return services.reviews_author_forgotten(user_id=user_id)
