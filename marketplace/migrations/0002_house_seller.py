"""The house seller (the platform selling its own stock) exists from the first migrate."""

from decimal import Decimal

from django.db import migrations


def create_house_seller(apps, schema_editor):
    Seller = apps.get_model("marketplace", "Seller")
    if not Seller.objects.filter(is_house=True).exists():
        Seller.objects.create(
            name="Bazaar", slug="bazaar", is_house=True, rating=Decimal("4.80"), rating_count=0,
            commission_rate=Decimal("0"), description="Sold and shipped by Bazaar.",
        )


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [migrations.RunPython(create_house_seller, migrations.RunPython.noop)]
