"""Your data in a real browser: the account page leads to it, the download is a JSON file of the
shopper's own data, and closing the account signs them out for good."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts import services as account_services
from accounts.models import User
from tests.browser.journeys import PASSWORD, sign_in_storefront
from tests.buying import ADDRESS
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_shopper_downloads_their_data_then_closes_the_account(page, live_server, shots):
    ann = UserFactory(full_name="Ann Archer")
    account_services.address_create(user=ann, **{**ADDRESS, "full_name": "Ann Archer"})
    sign_in_storefront(page, live_server, ann.email, then="/account/")
    page.get_by_role("link", name="Your data: download it, or close your account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data")

    with page.expect_download() as got:
        page.get_by_role("link", name="Download your data").click()
    download = got.value
    assert download.suggested_filename.startswith("bazaar-data-")
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["profile"]["email"] == ann.email
    assert [a["full_name"] for a in data["addresses"]] == ["Ann Archer"]

    page.get_by_label("Your password").fill("not it")
    page.get_by_label("I understand that closing my account cannot be undone").check()
    page.get_by_role("button", name="Close my account").click()
    expect(page.locator(".error-summary")).to_contain_text("That password is not right.")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("I understand that closing my account cannot be undone").check()
    page.screenshot(path=str(shots / "your-data.png"))
    page.get_by_role("button", name="Close my account").click()
    expect(page.get_by_text("Your account is closed.")).to_be_visible()
    page.goto(live_server.url + "/account/")
    expect(page).to_have_url(f"{live_server.url}/account/sign-in/?next=/account/")
    assert not User.objects.get(pk=ann.pk).is_active
