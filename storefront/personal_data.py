"""Your data: everything the shop holds about a customer, as one download, and closing the account.

Storefront sits above every context, so this is where their parts meet: each context lists its own
part (``personal_data`` in its selectors) and forgets the customer through its own services (the
``accounts.account_closed`` event's consumers). Orders, invoices and the ledgers stay: the law keeps
them, and they keep their e-mail and addresses; the account they pointed to can no longer sign in.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import selectors as account_selectors
from accounts import services as account_services
from catalog import selectors as catalog_selectors
from core.exceptions import ApplicationError
from core.money import format_money
from insights import selectors as insights_selectors
from marketplace import selectors as marketplace_selectors
from membership import selectors as membership_selectors
from orders import selectors as orders_selectors
from payments import selectors as payments_selectors


def personal_data_export(*, user) -> dict:
    """What the shop holds about ``user``, for them to keep (JSON-ready but for dates and decimals:
    ``DjangoJSONEncoder`` writes those). A constant number of queries whatever the history."""
    data = {"exported_at": timezone.now(), "shop": settings.SHOP_NAME}
    data |= account_selectors.personal_data(user=user)
    data |= orders_selectors.personal_data(user_id=user.pk)
    data |= catalog_selectors.personal_data(user_id=user.pk)
    data |= membership_selectors.personal_data(user_id=user.pk)
    data |= payments_selectors.personal_data(user_id=user.pk)
    data |= marketplace_selectors.personal_data(user_id=user.pk)
    data |= insights_selectors.personal_data(user_id=user.pk)
    return data


def closing_blockers(*, user) -> list[str]:
    """Why ``user``'s account cannot be closed now, each with what to do (empty: it can)."""
    reasons = []
    if user.is_staff or user.is_superuser:
        reasons.append(_("A staff account is closed by an administrator."))
    if marketplace_selectors.seller_ids_for_user(user):
        reasons.append(_("You belong to a seller's team: its owner removes you first (an owner hands the "
                         "seller over, or asks us to close it)."))
    orders, returns = orders_selectors.open_business(user_id=user.pk)
    if orders:
        reasons.append(ngettext("%(count)d order is not delivered yet: close the account once it has arrived "
                                "(or cancel it).",
                                "%(count)d orders are not delivered yet: close the account once they have "
                                "arrived (or cancel them).", orders) % {"count": orders})
    if returns:
        reasons.append(ngettext("%(count)d return is not settled yet.", "%(count)d returns are not settled yet.",
                                returns) % {"count": returns})
    if membership_selectors.renews(user):
        reasons.append(_("Your membership renews: cancel it first (nothing more is charged)."))
    held = payments_selectors.store_credit_held(user_id=user.pk)
    if held:
        reasons.append(_("You hold %(amount)s of store credit: spend it first, it would be lost.")
                       % {"amount": ", ".join(format_money(m.amount, m.currency) for m in held)})
    return reasons


def account_close(*, user, password: str) -> None:
    """Close ``user``'s account (their password confirms it) when nothing is left open; refused with
    every reason at once otherwise (code ``account_in_use``)."""
    reasons = closing_blockers(user=user)
    if reasons:
        raise ApplicationError(" ".join(reasons), code="account_in_use")
    account_services.account_close(user=user, password=password)
