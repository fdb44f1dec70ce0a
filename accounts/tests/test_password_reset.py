"""Password reset: the e-mail goes through the Celery task, the link works once, no enumeration."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts import tasks
from core.models import OutboxMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _reset_link(message) -> str:
    return re.search(r"https?://[^\s\"<]+/account/password/reset/[^\s\"<]+/", message.body).group(0)


def test_reset_email_is_sent_by_the_task_with_text_and_html_parts(client):
    user = UserFactory(email="ann@example.com", full_name="Ann Example")
    response = client.post(reverse("accounts:password_reset"), {"email": "ANN@example.com"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    # Handed to Celery through the outbox (after commit), with ids and plain values only.
    assert list(OutboxMessage.objects.values_list("task_name", "args", "kwargs")) == [
        (tasks.send_password_reset_email.name, [user.pk], {"domain": "testserver", "use_https": False})
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
    assert link.startswith("http://testserver/account/password/reset/")

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
        assert client.post(reverse("accounts:password_reset"), {"email": email}).status_code == 302
    assert mail.outbox == []


def test_bad_email_is_a_form_error(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "not an email"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]


def test_task_skips_a_user_that_is_gone():
    assert tasks.send_password_reset_email(999999, domain="testserver", use_https=True) is False
    assert mail.outbox == []


def test_a_garbage_reset_link_is_not_an_error(client):
    response = client.get("/account/password/reset/zzz/not-a-token/", follow=True)
    assert response.status_code == 200
    assert response.context["validlink"] is False
