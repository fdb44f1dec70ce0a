"""Catalog background jobs (queue "media")."""

from celery import shared_task

from catalog import services


@shared_task(
    autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5, acks_late=True
)
def make_thumbnail(image_id: int) -> bool:
    """Make the thumbnail of one product image. Safe to run twice."""
    return services.product_image_make_thumbnail(image_id=image_id) is not None
