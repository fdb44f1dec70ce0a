"""Password reset: the e-mail goes through the Celery task, the link works once, no enumeration."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse

from accounts import tasks
from core.models import OutboxMessage
from tests.commit import committed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _reset_link(message) -> str:
    return re.search(r"https?://[^\s\"<]+/account/password/reset/[^\s\"<]+/", message.body).group(0)


def test_reset_email_is_sent_by_the_task_with_text_and_html_parts(client):
    user = UserFactory(email="ann@example.com", full_name="Ann Example")
    with committed():
        response = client.post(reverse("accounts:password_reset"), {"email": "ANN@example.com"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    # Handed to Celery through the outbox (after commit), with an id only: the link's host comes from SITE_URL.
    assert list(OutboxMessage.objects.values_list("task_name", "args", "kwargs")) == [
        (tasks.send_password_reset_email.name, [user.pk], {})
    ]
    assert OutboxMessage.objects.get().sent_at is not None

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ann@example.com"]
    assert "Reset your Bazaar password" in message.subject
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    link = _reset_link(message)
    assert link in html
    assert link.startswith(django_settings.SITE_URL.rstrip("/") + "/account/password/reset/")

    # The link leads to the set-password form (Django swaps the token into the session first).
    page = client.get(link, follow=True)
    assert page.status_code == 200
    assert page.context["validlink"] is True
    response = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "a fresh Phrase 2026", "new_password2": "a fresh Phrase 2026"},
    )
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("a fresh Phrase 2026")

    # Used once: the same link no longer works.
    again = client.get(link, follow=True)
    assert again.context["validlink"] is False
    assert "no longer works" in again.content.decode()


def test_reset_answer_is_the_same_for_unknown_and_known_emails(client):
    UserFactory(email="ann@example.com")
    with committed():
        known = client.post(reverse("accounts:password_reset"), {"email": "ann@example.com"})
        unknown = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url
    assert client.get(known.url).content == client.get(unknown.url).content
    assert len(mail.outbox) == 1  # only the real account got a message


def test_inactive_users_and_users_without_password_get_no_email(client):
    UserFactory(email="gone@example.com", is_active=False)
    no_password = UserFactory(email="sso@example.com")
    no_password.set_unusable_password()
    no_password.save()
    for email in ("gone@example.com", "sso@example.com"):
        with committed():
            assert client.post(reverse("accounts:password_reset"), {"email": email}).status_code == 302
    assert mail.outbox == []


def test_bad_email_is_a_form_error(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "not an email"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]


def test_task_skips_a_user_that_is_gone():
    assert tasks.send_password_reset_email(999999) is False
    assert mail.outbox == []


@pytest.mark.parametrize("forged", [{"HTTP_HOST": "evil.example"},
                                    {"HTTP_HOST": "evil.example", "HTTP_X_FORWARDED_HOST": "evil.example",
                                     "HTTP_X_FORWARDED_PROTO": "https"}])
def test_the_reset_link_uses_site_url_never_the_requests_host(client, settings, forged):
    """Development allows any Host, so a forged one would otherwise put the attacker's site (and
    the victim's reset token) in the link the victim receives."""
    settings.SITE_URL = "https://shop.example.com"
    settings.ALLOWED_HOSTS = ["*"]
    UserFactory(email="victim@example.com")
    with committed():
        response = client.post(reverse("accounts:password_reset"), {"email": "victim@example.com"}, **forged)
    assert response.status_code == 302
    message = mail.outbox[0]
    html, _mimetype = message.alternatives[0]
    link = _reset_link(message)
    assert link.startswith("https://shop.example.com/account/password/reset/")
    for part in (message.body, html):
        assert "evil.example" not in part
        assert "https://shop.example.com/account/password/reset/" in part


def test_a_reset_task_queued_by_the_previous_release_still_sends_a_safe_link(settings):
    """Messages already in the queue at deploy time carry the old arguments: the link still uses SITE_URL."""
    settings.SITE_URL = "https://shop.example.com"
    user = UserFactory(email="ann@example.com")
    assert tasks.send_password_reset_email(user.pk, domain="evil.example", use_https=False) is True
    assert "evil.example" not in mail.outbox[0].body
    assert _reset_link(mail.outbox[0]).startswith("https://shop.example.com/")


def test_a_garbage_reset_link_is_not_an_error(client):
    response = client.get("/account/password/reset/zzz/not-a-token/", follow=True)
    assert response.status_code == 200
    assert response.context["validlink"] is False
