"""Least privilege across the whole admin site. Django runs an action declared without
``permissions=`` for anyone who can open the change list, so every action must name one; and each
action that moves money or stock, charges a card or mints codes must name its own permission, not a
model's generic "change" (which a view-only or support user may hold). The per-app tests check the
stored state after forged POSTs; this one keeps a new action from slipping in without a permission."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from tests.factories import staff_user

pytestmark = pytest.mark.django_db

# (app_label, model_name, action) -> the one permission that unlocks it
MONEY_ACTIONS = {
    ("orders", "order", "cancel_orders"): "orders.cancel_order",
    ("orders", "order", "refund_orders"): "orders.refund_order",
    ("orders", "order", "complete_orders"): "orders.complete_order",
    ("orders", "order", "resolve_payment_problems"): "orders.refund_order",
    ("orders", "orderrefund", "retry_refunds"): "orders.refund_order",
    ("orders", "package", "ship_packages"): "orders.ship_package",
    ("orders", "package", "deliver_packages"): "orders.ship_package",
    ("payments", "payment", "capture"): "payments.capture_payment",
    ("payments", "payment", "refund_in_full"): "payments.refund_payment",
    ("membership", "subscription", "cancel_at_period_end"): "membership.cancel_subscription",
    ("membership", "subscription", "expire_now"): "membership.expire_subscription",
    ("membership", "subscription", "retry_renewal_now"): "membership.retry_renewal",
    ("promotions", "voucher", "generate_single_use_codes"): "promotions.generate_vouchers",
}
# Actions that only delete rows (their own "delete" permission is the right one).
DELETE_ACTIONS = {"delete_selected", "cleanup_expired_attempts"}


def _actions(model_admin, user) -> set[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(model_admin.get_actions(request))


def _generic_permissions(app_label: str, model_name: str) -> list[str]:
    codenames = [f"{verb}_{model_name}" for verb in ("view", "add", "change", "delete")]
    found = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    return [f"{app_label}.{p.codename}" for p in found]


def test_every_admin_action_names_its_permissions():
    unguarded = []
    for model, model_admin in admin.site._registry.items():
        for func, name, _description in model_admin._get_base_actions():
            if not getattr(func, "allowed_permissions", ()):
                unguarded.append(f"{model._meta.label}.{name}")
    assert unguarded == []


# Actions that move no money or stock, with the permission they need.
ACCESS_ACTIONS = {
    ("orders", "order", "revoke_guest_links"): "orders.change_order",  # guest links stop working
    ("marketplace", "seller", "suspend"): "marketplace.suspend_seller",  # its offers stop selling
    ("marketplace", "seller", "reinstate"): "marketplace.suspend_seller",
    # --- Experiments: starting or stopping changes what shoppers see, not money or stock
    ("experiments", "experiment", "start_experiments"): "experiments.change_experiment",
    ("experiments", "experiment", "stop_experiments"): "experiments.change_experiment",
    # --- end of Experiments
}
# Actions that only read (a download of what the list shows): whoever may view the rows may use them.
READ_ACTIONS = {
    ("finance", "ledgerentry", "download_csv"),
    ("finance", "payout", "download_statement"),
}


def test_every_other_action_is_a_delete_or_listed_as_moving_money():
    """A new action is either a plain delete or listed above with its own permission."""
    listed = {(app, model, action) for app, model, action in (*MONEY_ACTIONS, *ACCESS_ACTIONS, *READ_ACTIONS)}
    unknown = []
    for model, model_admin in admin.site._registry.items():
        for _func, name, _description in model_admin._get_base_actions():
            key = (model._meta.app_label, model._meta.model_name, name)
            if name not in DELETE_ACTIONS and key not in listed:
                unknown.append(key)
    assert unknown == [], "a new admin action: decide its permission and add it to MONEY_ACTIONS"


@pytest.mark.parametrize(("app_label", "model_name", "action"), sorted(MONEY_ACTIONS))
def test_money_action_needs_its_own_permission_not_the_models_generic_ones(app_label, model_name, action):
    model_admin = admin.site.get_model_admin(apps.get_model(app_label, model_name))
    generic = _generic_permissions(app_label, model_name)

    assert action not in _actions(model_admin, staff_user(f"{app_label}.view_{model_name}"))
    assert action not in _actions(model_admin, staff_user(*generic))
    assert action in _actions(model_admin, staff_user(f"{app_label}.view_{model_name}",
                                                      MONEY_ACTIONS[(app_label, model_name, action)]))


@pytest.mark.parametrize(("app_label", "model_name", "action"), sorted(ACCESS_ACTIONS))
def test_access_actions_need_their_permission(app_label, model_name, action):
    model_admin = admin.site.get_model_admin(apps.get_model(app_label, model_name))
    assert action not in _actions(model_admin, staff_user(f"{app_label}.view_{model_name}"))
    assert action in _actions(model_admin, staff_user(f"{app_label}.view_{model_name}",
                                                      ACCESS_ACTIONS[(app_label, model_name, action)]))


@pytest.mark.parametrize(("app_label", "model_name", "action"), sorted(READ_ACTIONS))
def test_read_actions_need_only_the_view_permission(app_label, model_name, action):
    model_admin = admin.site.get_model_admin(apps.get_model(app_label, model_name))
    assert action in _actions(model_admin, staff_user(f"{app_label}.view_{model_name}"))
    assert not any(_actions(model_admin, staff_user()))  # no permission: nothing at all


def test_sign_in_attempts_are_cleaned_up_only_by_who_may_delete_them():
    from axes.models import AccessAttempt

    model_admin = admin.site.get_model_admin(AccessAttempt)
    assert "cleanup_expired_attempts" not in _actions(model_admin, staff_user("axes.view_accessattempt"))
    assert "cleanup_expired_attempts" in _actions(
        model_admin, staff_user("axes.view_accessattempt", "axes.delete_accessattempt")
    )
