"""The rule for every category and seller (15%, at least 0.30 a unit), and a seller-wide rule for
every seller whose own commission rate (marketplace's old ``Seller.commission_rate``, removed
next) differed from it."""

from decimal import Decimal

from django.db import migrations

DEFAULT_PERCENT = Decimal("15.00")
DEFAULT_MINIMUM = Decimal("0.30")


def forwards(apps, schema_editor):
    Rule = apps.get_model("finance", "ReferralFeeRule")
    Seller = apps.get_model("marketplace", "Seller")
    Rule.objects.get_or_create(category=None, seller=None,
                               defaults={"percent": DEFAULT_PERCENT, "minimum_per_unit": DEFAULT_MINIMUM})
    for seller in Seller.objects.filter(is_house=False).exclude(commission_rate=DEFAULT_PERCENT / 100):
        Rule.objects.get_or_create(category=None, seller=seller, defaults={
            "percent": (seller.commission_rate * 100).quantize(Decimal("0.01")), "minimum_per_unit": DEFAULT_MINIMUM,
        })


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0001_initial"),
        ("marketplace", "0003_offer_member_price_and_more"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
