"""The usual size tiers and fulfilment fee rates, as starting data staff can change in admin."""

from decimal import Decimal as D

from django.db import migrations

# code, name, position, longest, median, shortest, length + girth, weight, dimensional weight, storage class
TIERS = [
    ("small-standard", "Small standard", 10, D("15"), D("12"), D("0.75"), None, D("1"), False, "standard"),
    ("large-standard", "Large standard", 20, D("18"), D("14"), D("8"), None, D("20"), True, "standard"),
    ("large-bulky", "Large bulky", 30, D("59"), D("33"), D("33"), D("130"), D("50"), True, "oversize"),
    ("extra-large", "Extra large", 40, None, None, None, None, None, True, "oversize"),
]

# tier code, over lb, up to lb, fee, per lb, per lb above
RATES = [
    ("small-standard", D("0"), D("0.5"), D("3.06"), D("0"), D("0")),
    ("small-standard", D("0.5"), D("1"), D("3.33"), D("0"), D("0")),
    ("large-standard", D("0"), D("1"), D("3.86"), D("0"), D("0")),
    ("large-standard", D("1"), D("2"), D("4.99"), D("0"), D("0")),
    ("large-standard", D("2"), D("3"), D("5.92"), D("0"), D("0")),
    ("large-standard", D("3"), None, D("6.10"), D("0.32"), D("3")),
    ("large-bulky", D("0"), None, D("9.61"), D("0.38"), D("1")),
    ("extra-large", D("0"), None, D("26.33"), D("0.38"), D("1")),
]


def add(apps, schema_editor):
    SizeTier = apps.get_model("fulfillment", "SizeTier")
    Rate = apps.get_model("fulfillment", "FulfilmentFeeRate")
    tiers = {}
    for code, name, position, longest, median, shortest, girth, weight, dim, storage in TIERS:
        tiers[code], _ = SizeTier.objects.get_or_create(code=code, defaults={
            "name": name, "position": position, "max_longest_in": longest, "max_median_in": median,
            "max_shortest_in": shortest, "max_length_girth_in": girth, "max_weight_lb": weight,
            "dimensional_weight": dim, "storage_class": storage})
    for code, over, up_to, fee, per_lb, above in RATES:
        Rate.objects.get_or_create(tier=tiers[code], over_lb=over, defaults={
            "up_to_lb": up_to, "fee": fee, "per_lb": per_lb, "per_lb_above": above})


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0005_size_tiers_and_fees")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
