"""Writes of finance: the referral fee rules (staff, in admin)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core import cache as vcache
from finance.models import ReferralFeeRule
from finance.selectors import NAMESPACE


@transaction.atomic
def referral_fee_rule_save(*, rule: ReferralFeeRule) -> ReferralFeeRule:
    """Save a rule (validated: percent 0-100, minimum not negative, one rule per category and
    seller). Orders placed from the commit on use it; orders already placed keep the fee they
    were sold with (snapshotted on their lines)."""
    rule.updated_at = timezone.now()
    rule.full_clean()
    rule.save()
    vcache.bump_on_commit(NAMESPACE)
    return rule


def referral_fee_rule_set(*, category_id: int | None, seller_id: int | None, percent: Decimal,
                          minimum_per_unit: Decimal) -> ReferralFeeRule:
    """The rule for this category and seller (None: every), created or changed to these values."""
    rule = ReferralFeeRule.objects.filter(category_id=category_id, seller_id=seller_id).first()
    rule = rule or ReferralFeeRule(category_id=category_id, seller_id=seller_id)
    rule.percent, rule.minimum_per_unit = percent, minimum_per_unit
    return referral_fee_rule_save(rule=rule)


@transaction.atomic
def referral_fee_rule_delete(*, rule: ReferralFeeRule) -> None:
    rule.delete()
    vcache.bump_on_commit(NAMESPACE)
