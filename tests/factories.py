"""Factories shared by every app's tests. They go through services where a service exists,
so test data obeys the same rules as real data (paths, ledger rows, buy boxes). Data is made as
if committed: the service's after-commit work (buy-box refresh, cache bumps) has run when a
factory returns (see tests/commit.py)."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils.text import slugify

from accounts.models import User
from catalog import services as catalog_services
from catalog.models import Brand, Category, Product
from fulfillment import services as fulfillment_services
from fulfillment.models import ShippingMethod, StockItem, Warehouse
from marketplace import services as marketplace_services
from marketplace.models import Offer, Seller
from tests.commit import committed


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):
        if create:
            self.save()


class CategoryFactory(factory.Factory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    parent = None

    @classmethod
    def _create(cls, model_class, name, parent=None, **kwargs):
        with committed():
            return catalog_services.category_create(name=name, parent=parent, **kwargs)


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class ProductFactory(factory.Factory):
    class Meta:
        model = Product

    title = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    brand = factory.SubFactory(BrandFactory)
    description = "A fine product."
    attributes = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        with committed():
            return catalog_services.product_create(**kwargs)


class SellerFactory(factory.Factory):
    class Meta:
        model = Seller

    name = factory.Sequence(lambda n: f"Seller {n}")
    rating = Decimal("4.50")

    @classmethod
    def _create(cls, model_class, **kwargs):
        with committed():
            return marketplace_services.seller_create(**kwargs)


def house_seller() -> Seller:
    return Seller.objects.get(is_house=True)


class WarehouseFactory(factory.Factory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"wh{n}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    kind = Warehouse.Kind.PLATFORM
    seller = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        with committed():
            return fulfillment_services.warehouse_create(**kwargs)


class OfferFactory(factory.Factory):
    class Meta:
        model = Offer

    seller = factory.SubFactory(SellerFactory)
    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    price = Decimal("19.99")
    fulfillment_channel = Offer.Channel.PLATFORM

    @classmethod
    def _create(cls, model_class, **kwargs):
        with committed():
            return marketplace_services.offer_create(**kwargs)


def stock(offer: Offer, quantity: int, warehouse: Warehouse | None = None) -> StockItem:
    """Put ``quantity`` units of ``offer`` in a fitting warehouse (made when not given)."""
    if warehouse is None:
        if offer.fulfilled_by_platform:
            warehouse = Warehouse.objects.filter(kind=Warehouse.Kind.PLATFORM).first() or WarehouseFactory()
        else:
            warehouse = Warehouse.objects.filter(seller=offer.seller).first() or WarehouseFactory(
                kind=Warehouse.Kind.SELLER, seller=offer.seller
            )
    with committed():
        item = fulfillment_services.stock_item_ensure(offer=offer, warehouse=warehouse)
        if quantity:
            item = fulfillment_services.stock_receive(stock_item=item, quantity=quantity, reference="test")
    return item


def shipping_method(*, channel: str, price: str, code: str | None = None, seller: Seller | None = None,
                    min_days: int = 2, max_days: int = 5, members_only: bool = False) -> ShippingMethod:
    with committed():
        return fulfillment_services.shipping_method_create(
            code=code or f"{channel}-{price}".replace(".", "-"), name=f"{channel} {price}", channel=channel,
            price=Decimal(price), min_days=min_days, max_days=max_days, seller=seller, members_only=members_only,
        )


def seller_member(seller: Seller, *, email: str | None = None, role: str = "staff") -> User:
    """A user who belongs to ``seller`` with ``role`` (and so that role's group), made by the service."""
    user = UserFactory(email=email) if email else UserFactory()
    with committed():
        marketplace_services.seller_member_add(seller=seller, user=user, role=role)
    user.refresh_from_db()
    return user


def admin_form_data(response, **changes) -> dict:
    """The POST body an admin add/change page sends as rendered (main form and every inline, with
    their management forms), with ``changes`` applied. Files are left out; False checkboxes too."""
    from django.db.models.fields.files import FieldFile

    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    data: dict = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None or value is False or isinstance(value, FieldFile):
                continue
            if value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            else:
                data[key] = str(value)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def staff_user(*perms: str, email: str | None = None) -> User:
    """Platform staff (``is_staff``, member of no seller) holding exactly ``perms`` ("app_label.codename")."""
    from django.contrib.auth.models import Permission

    user = UserFactory(email=email) if email else UserFactory()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    for perm in perms:
        app_label, codename = perm.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh: no permission cache


def admin_actions(response) -> set[str]:
    """Names of the actions an admin change list offers (empty when it offers none)."""
    form = response.context["action_form"]
    return {name for name, _label in form.fields["action"].choices if name} if form is not None else set()


def admin_action(client, url: str, action: str, *objects, follow: bool = False):
    """POST an admin action on ``objects`` as the change list would (or as a forged request would).
    The request commits: what the action set off after the commit has run when this returns."""
    with committed():
        return client.post(url, {"action": action, "_selected_action": [o.pk for o in objects]}, follow=follow)
