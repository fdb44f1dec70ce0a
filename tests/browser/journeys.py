"""What the browser journeys (seller, fulfilment, after-sales) share: signing in as a shopper or
in admin, moving around admin, and reading its messages and ledger."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import expect

from core.money import format_money

PASSWORD = "correct horse battery"  # UserFactory's


def ready(page) -> None:
    """The page's scripts have run (they mark the document)."""
    page.wait_for_selector("html[data-enhanced]", state="attached")


def money(amount: Decimal) -> str:
    return format_money(amount, "USD")


def sign_in_storefront(page, live_server, email: str, *, then: str) -> None:
    page.goto(f"{live_server.url}/account/sign-in/?next={then}")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def sign_in_admin(page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.locator("#user-tools")).to_be_visible()


def admin_open(page, model_link: str) -> None:
    """From the admin home, the change list of a model, by its row's link text (not its app's)."""
    page.locator("#site-name a").click()
    page.locator("#content-main").get_by_role("rowheader", name=model_link, exact=True).get_by_role("link").click()
    expect(page.locator("#changelist")).to_be_visible()


def admin_action_on(page, row_text: str, action: str) -> None:
    """Tick one row of a change list and run an action on it."""
    page.locator("#result_list tbody tr").filter(has_text=row_text).locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label=action)
    page.get_by_role("button", name="Go").click()


def success_message(page):
    return page.locator(".messagelist .success")


def ledger_row(page, kind: str):
    kind_cell = page.locator("td.field-kind", has_text=re.compile(rf"^{re.escape(kind)}$"))
    return page.locator("#result_list tbody tr").filter(has=kind_cell)
