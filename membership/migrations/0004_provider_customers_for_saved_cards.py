"""Saved cards now belong to their owner: a ``cus_...|pm_...`` card is charged only for the customer
recorded for that provider customer. Record the owner of every card saved before this rule, so
existing members keep renewing."""

from django.db import migrations


def record_owners(apps, schema_editor):
    Subscription = apps.get_model("membership", "Subscription")
    ProviderCustomer = apps.get_model("payments", "ProviderCustomer")
    rows = Subscription.objects.exclude(payment_method="").values_list("user_id", "payment_provider", "payment_method")
    for user_id, provider, token in rows.iterator():
        customer, _sep, _method = token.rpartition("|")
        if not customer:
            continue
        owner = f"user:{user_id}"
        provider = provider or "stripe"
        if ProviderCustomer.objects.filter(owner=owner, provider=provider).exists():
            continue
        if ProviderCustomer.objects.filter(provider=provider, customer_id=customer).exists():
            continue
        ProviderCustomer.objects.create(owner=owner, provider=provider, customer_id=customer)


class Migration(migrations.Migration):

    dependencies = [
        ("membership", "0003_card_fingerprint_permissions"),
        ("payments", "0003_payment_requires_action"),
    ]

    operations = [migrations.RunPython(record_owners, migrations.RunPython.noop)]
