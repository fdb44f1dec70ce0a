"""The aged inventory surcharge to start from: $1.50 per cubic foot and month, every class."""

from decimal import Decimal

from django.db import migrations


def add(apps, schema_editor):
    apps.get_model("fulfillment", "StorageRate").objects.filter(aged_per_cubic_foot=0).update(
        aged_per_cubic_foot=Decimal("1.50"))


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0011_removal_and_aged")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
