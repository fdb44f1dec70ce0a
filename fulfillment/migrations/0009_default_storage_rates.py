"""Storage rates to start from (per cubic foot and month), changed by staff in admin."""

from decimal import Decimal as D

from django.db import migrations

RATES = [("standard", False, D("0.78")), ("standard", True, D("2.40")), ("oversize", False, D("0.56")),
         ("oversize", True, D("1.40"))]


def add(apps, schema_editor):
    StorageRate = apps.get_model("fulfillment", "StorageRate")
    for storage_class, peak, rate in RATES:
        StorageRate.objects.get_or_create(storage_class=storage_class, peak=peak, defaults={"per_cubic_foot": rate})


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0008_storage_fees")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
