"""Inventory files: a seller's offers and stock from a CSV. A dry run reports exactly what a real
run would do and changes nothing; a real run applies every valid row once and a second run of the
same file changes nothing; bad files and bad rows say what is wrong; large files run in a worker
with progress, once; a seller's members upload and see only their own seller's files."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.exceptions import ApplicationError, PermissionDenied
from fulfillment import inventory
from fulfillment import services as fulfillment_services
from fulfillment.models import InventoryUpload, StockItem, StockMovement, Warehouse
from fulfillment.tasks import run_inventory_upload
from marketplace import services as marketplace_services
from marketplace.models import Offer
from tests.commit import committed
from tests.factories import (
    OfferFactory,
    ProductFactory,
    SellerFactory,
    WarehouseFactory,
    seller_member,
    staff_user,
    stock,
)

pytestmark = pytest.mark.django_db

HEADER = "sku,product,price,quantity,condition\n"


@pytest.fixture
def shop():
    seller = SellerFactory(name="Kettle Works")
    location = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller, code="kw-main")
    kettle, mug = ProductFactory(title="Steel kettle"), ProductFactory(title="Tea mug")
    offer = OfferFactory(seller=seller, product=kettle, sku="KET-1", price=Decimal("20.00"),
                         fulfillment_channel=Offer.Channel.MERCHANT)
    stock(offer, 5, location)
    return {"seller": seller, "location": location, "kettle": kettle, "mug": mug, "offer": offer,
            "manager": seller_member(seller, role="manager")}


def upload(shop, text: str, *, dry_run: bool, actor=None) -> InventoryUpload:
    with committed():
        return inventory.inventory_upload_create(seller=shop["seller"], actor=actor or shop["manager"],
                                                 file_name="stock.csv", data=text.encode(), dry_run=dry_run)


def available(offer_or_sku, seller=None) -> int:
    offer = offer_or_sku if isinstance(offer_or_sku, Offer) else Offer.objects.get(seller=seller, sku=offer_or_sku)
    item = StockItem.objects.filter(offer=offer).first()
    return item.on_hand - item.reserved if item else 0


def good_file(shop) -> str:
    return (HEADER + f"KET-1,{shop['kettle'].slug},18.50,12,new\n"
            f"MUG-1,{shop['mug'].slug},6.00,30,Used - like new\n")


def test_a_dry_run_reports_what_would_change_and_changes_nothing(shop):
    movements = StockMovement.objects.count()
    report = upload(shop, good_file(shop), dry_run=True)
    assert (report.status, report.total_rows, report.created_count, report.updated_count, report.error_count) == (
        "done", 2, 1, 1, 0)
    rows = {row["sku"]: row for row in report.report}
    assert rows["KET-1"]["changes"] == ["price 20.00 → 18.50", "quantity 5 → 12"]
    assert rows["MUG-1"]["result"] == "created"
    shop["offer"].refresh_from_db()
    assert shop["offer"].price == Decimal("20.00")
    assert available(shop["offer"]) == 5
    assert not Offer.objects.filter(sku="MUG-1").exists()
    assert StockMovement.objects.count() == movements


def test_a_real_run_applies_once_and_the_same_file_again_changes_nothing(shop):
    done = upload(shop, good_file(shop), dry_run=False)
    assert (done.created_count, done.updated_count, done.unchanged_count, done.error_count) == (1, 1, 0, 0)
    shop["offer"].refresh_from_db()
    assert shop["offer"].price == Decimal("18.50")
    mug = Offer.objects.get(seller=shop["seller"], sku="MUG-1")
    assert (mug.product, mug.price, mug.condition, mug.fulfillment_channel) == (
        shop["mug"], Decimal("6.00"), "used_like_new", "merchant")
    assert (available(shop["offer"]), available(mug)) == (12, 30)
    movements = StockMovement.objects.count()
    again = upload(shop, good_file(shop), dry_run=False)
    assert (again.created_count, again.updated_count, again.unchanged_count, again.report) == (0, 0, 2, [])
    assert StockMovement.objects.count() == movements


def test_quantity_is_what_can_still_be_sold_units_promised_to_orders_stay(shop):
    with committed():
        fulfillment_services.stock_reserve(lines=[(shop["offer"].pk, 2)], reference="order-1")
    assert available(shop["offer"]) == 3
    upload(shop, HEADER + "KET-1,,,10,\n", dry_run=False)
    item = StockItem.objects.get(offer=shop["offer"])
    assert (item.on_hand, item.reserved) == (12, 2)
    upload(shop, HEADER + "KET-1,,,0,\n", dry_run=False)  # sold out here: the 2 promised units remain
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (2, 2)


@pytest.mark.parametrize(("row", "message"), [
    ("NEW-1,no-such-product,5.00,1,new", "Unknown product"),
    ("NEW-1,{mug},,1,new", "give the slug of an active product and a price"),
    ("NEW-1,,5.00,1,new", "give the slug of an active product and a price"),
    ("KET-1,,abc,,", "Price"),
    ("KET-1,,0,,", "Price"),
    ("KET-1,,,-1,", "quantity must be between"),
    ("KET-1,,,lots,", "not a whole number"),
    ("KET-1,,,,brand new", "condition"),
    ("KET-1,{mug},,,", "not on"),
    ("KET-1,,1.00,2,new,extra", "More cells than columns"),
    (",{mug},5.00,1,new", "sku is empty"),
])
def test_bad_rows_are_reported_and_the_good_ones_still_apply(shop, row, message):
    text = HEADER + row.format(mug=shop["mug"].slug) + "\n" + f"OK-1,{shop['mug'].slug},7.00,3,new\n"
    done = upload(shop, text, dry_run=False)
    errors = [r for r in done.report if r["result"] == "error"]
    assert len(errors) == 1
    assert errors[0]["line"] == 2
    assert message in " ".join(errors[0]["errors"]), errors
    assert done.created_count == 1
    assert available("OK-1", shop["seller"]) == 3
    shop["offer"].refresh_from_db()
    assert (shop["offer"].price, available(shop["offer"])) == (Decimal("20.00"), 5)  # the bad row changed nothing


def test_a_sku_twice_in_a_file_and_stock_bazaar_counts_are_refused(shop):
    fba = OfferFactory(seller=shop["seller"], product=shop["mug"], sku="FBA-1")  # fulfilled by Bazaar
    done = upload(shop, HEADER + "KET-1,,19.00,,\nKET-1,,17.00,,\nFBA-1,,,4,\n", dry_run=False)
    errors = {r["line"]: r["errors"][0] for r in done.report if r["result"] == "error"}
    assert "line 2 already" in errors[3]
    assert "Bazaar counts the stock" in errors[4]
    shop["offer"].refresh_from_db()
    assert shop["offer"].price == Decimal("19.00")
    assert not StockItem.objects.filter(offer=fba, warehouse=shop["location"]).exists()


def test_a_member_price_not_below_the_price_is_refused_by_the_same_rules_as_admin(shop):
    done = upload(shop, "sku,price,member_price\nKET-1,10.00,12.00\n", dry_run=True)
    assert done.error_count == 1
    assert "member price" in done.report[0]["errors"][0].lower()


def test_semicolons_labels_and_the_active_column(shop):
    done = upload(shop, "SKU;Condition;Active\nKET-1;Refurbished;no\n", dry_run=False)
    assert done.updated_count == 1, done.report
    shop["offer"].refresh_from_db()
    assert (shop["offer"].condition, shop["offer"].is_active) == ("refurbished", False)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"sku,price,colour\nA,1,red\n", "Unknown columns: colour"),
    (b"price,quantity\n1,2\n", "\"sku\" column"),
    (b"sku,sku\nA,B\n", "named twice"),
    (b"sku,price\n", "no rows"),
    ("sku,price\nKÉT,1\n".encode("latin-1"), "UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "UTF-8"),
])
def test_a_file_that_cannot_be_read_is_refused_whole(shop, data, message):
    with pytest.raises(ApplicationError, match=message):
        inventory.inventory_upload_create(seller=shop["seller"], actor=shop["manager"], file_name="x.csv", data=data)
    assert not InventoryUpload.objects.exists()


def test_size_and_row_limits(shop, settings):
    settings.INVENTORY_UPLOAD_MAX_ROWS = 3
    with pytest.raises(ApplicationError, match="more than 3 rows"):
        inventory.inventory_file_check(data=(HEADER + "A,,,,\n" * 4).encode())
    settings.INVENTORY_UPLOAD_MAX_BYTES = 100
    with pytest.raises(ApplicationError, match="larger than"):
        inventory.inventory_file_check(data=b"sku\n" + b"A\n" * 60)


def test_who_may_upload(shop):
    text = HEADER + "KET-1,,1.00,,\n"
    for refused in (seller_member(shop["seller"], role="staff"), seller_member(SellerFactory(), role="owner"),
                    staff_user("fulfillment.view_inventoryupload")):
        with pytest.raises(PermissionDenied):
            upload(shop, text, dry_run=False, actor=refused)
    with committed():
        marketplace_services.seller_suspend(seller=shop["seller"], reason="Counterfeits")
    shop["seller"].refresh_from_db()
    with pytest.raises(PermissionDenied, match="suspended"):
        upload(shop, text, dry_run=False)
    assert not InventoryUpload.objects.exists()
    platform = staff_user("fulfillment.add_inventoryupload")
    with committed():
        marketplace_services.seller_reinstate(seller=shop["seller"], reason="Cleared")
    shop["seller"].refresh_from_db()
    assert upload(shop, text, dry_run=False, actor=platform).updated_count == 1


def test_another_sellers_location_is_refused(shop):
    elsewhere = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=SellerFactory(), code="other-loc")
    with pytest.raises(ApplicationError, match="locations"):
        inventory.inventory_upload_create(seller=shop["seller"], actor=shop["manager"], file_name="x.csv",
                                          data=(HEADER + "KET-1,,,3,\n").encode(), warehouse=elsewhere)


def test_a_large_file_runs_in_a_worker_once_with_progress(shop, settings):
    settings.INVENTORY_UPLOAD_INLINE_ROWS = 10
    rows = f"BULK-1,{shop['mug'].slug},5.00,1,new\nKET-1,,21.00,,\n" + "".join(f"X-{n},,,,\n" for n in range(250))
    done = upload(shop, HEADER + rows, dry_run=False)
    assert done.status == "queued"  # too large for the request: the worker ran it after the commit
    stored = InventoryUpload.objects.get(pk=done.pk)
    assert (stored.total_rows, stored.processed_rows, stored.created_count, stored.updated_count,
            stored.error_count) == (252, 252, 1, 1, 250)
    assert run_inventory_upload(stored.pk) is False  # delivered again: nothing runs twice


def test_a_run_whose_worker_died_is_taken_over(shop):
    stale = InventoryUpload.objects.create(
        seller=shop["seller"], warehouse=shop["location"], uploaded_by=shop["manager"], file_name="x.csv",
        content=HEADER + "KET-1,,,9,\n", content_sha256="x", dry_run=False, total_rows=1,
        status=InventoryUpload.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=1))
    assert run_inventory_upload(stale.pk) is False  # still alive a minute ago
    InventoryUpload.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run_inventory_upload(stale.pk) is True
    assert available(shop["offer"]) == 9


@pytest.mark.django_db(transaction=True)
def test_the_same_job_delivered_twice_at_once_runs_once():
    from tests.concurrency import race

    seller = SellerFactory()
    location = WarehouseFactory(kind=Warehouse.Kind.SELLER, seller=seller, code="race-loc")
    offer = OfferFactory(seller=seller, product=ProductFactory(), sku="R-1", fulfillment_channel="merchant")
    stock(offer, 1, location)
    job = InventoryUpload.objects.create(seller=seller, warehouse=location, file_name="x.csv",
                                         content="sku,quantity\nR-1,7\n", content_sha256="x", dry_run=False,
                                         total_rows=1)
    results = race(run_inventory_upload, [(job.pk,), (job.pk,), (job.pk,)])
    assert sorted(results) == [False, False, True]
    assert StockMovement.objects.filter(stock_item__offer=offer, kind="adjust").count() == 1


class TestAdmin:
    def test_dry_run_then_apply_in_admin(self, client, shop):
        client.force_login(shop["manager"])
        add = reverse("admin:fulfillment_inventoryupload_add")
        assert client.get(add).status_code == 200
        with committed():
            response = client.post(add, {"seller": shop["seller"].pk, "warehouse": "", "dry_run": "on",
                                         "file": SimpleUploadedFile("stock.csv", good_file(shop).encode())})
        assert response.status_code == 302, response.content.decode()[:3000]
        dry = InventoryUpload.objects.get()
        page = client.get(response["Location"]).content.decode()
        assert "What this file would change" in page
        assert "price 20.00 → 18.50" in page
        assert "Apply this file for real" in page
        with committed():
            applied = client.post(reverse("admin:fulfillment_inventoryupload_apply", args=[dry.pk]))
        real = InventoryUpload.objects.exclude(pk=dry.pk).get()
        assert applied["Location"] == reverse("admin:fulfillment_inventoryupload_change", args=[real.pk])
        assert (real.dry_run, real.created_count, real.updated_count) == (False, 1, 1)
        assert "Apply this file for real" not in client.get(applied["Location"]).content.decode()

    def test_a_bad_file_stays_on_the_form_with_the_reason(self, client, shop):
        client.force_login(shop["manager"])
        response = client.post(reverse("admin:fulfillment_inventoryupload_add"), {
            "seller": shop["seller"].pk, "dry_run": "on",
            "file": SimpleUploadedFile("stock.csv", b"sku,colour\nA,red\n")})
        assert response.status_code == 200
        assert "Unknown columns: colour" in response.content.decode()

    def test_another_seller_never_sees_the_file_or_the_inventory(self, client, shop):
        done = upload(shop, good_file(shop), dry_run=True)
        other = Client()
        other.force_login(seller_member(SellerFactory(), role="owner"))
        assert other.get(reverse("admin:fulfillment_inventoryupload_change", args=[done.pk])).status_code == 302
        assert "stock.csv" not in other.get(reverse("admin:fulfillment_inventoryupload_changelist")).content.decode()
        export = reverse("admin:fulfillment_inventoryupload_export", args=[shop["seller"].pk])
        assert other.get(export).status_code == 403
        assert other.post(reverse("admin:fulfillment_inventoryupload_apply", args=[done.pk])).status_code == 404
        assert InventoryUpload.objects.count() == 1

    def test_the_seller_downloads_its_inventory_and_a_template(self, client, shop):
        OfferFactory(seller=SellerFactory(), product=shop["mug"], sku="NOT-MINE")
        client.force_login(seller_member(shop["seller"], role="staff"))
        body = client.get(reverse("admin:fulfillment_inventoryupload_export", args=[shop["seller"].pk]))
        lines = body.content.decode().splitlines()
        assert lines[0] == ",".join(inventory.COLUMNS)
        assert lines[1] == f"KET-1,{shop['kettle'].slug},20.00,5,new,,,1,yes"
        assert len(lines) == 2
        template = client.get(reverse("admin:fulfillment_inventoryupload_template")).content.decode()
        assert template.startswith("sku,product,price,quantity,condition")
        assert client.get(reverse("admin:fulfillment_inventoryupload_add")).status_code == 403  # staff: look only


class TestApi:
    URL = "/api/v1/inventory-uploads/"

    def test_upload_read_and_keep_to_your_own(self, shop):
        api = APIClient()
        api.force_authenticate(shop["manager"])
        with committed():
            response = api.post(self.URL, {"file": SimpleUploadedFile("s.csv", good_file(shop).encode()),
                                           "dry_run": "false"}, format="multipart")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["status"], body["created"], body["updated"], body["seller"], body["warehouse"]) == (
            "done", 1, 1, shop["seller"].slug, "kw-main")
        assert {row["sku"] for row in body["rows"]} == {"KET-1", "MUG-1"}
        assert api.get(f"{self.URL}{body['id']}/").json()["processed_rows"] == 2
        assert [u["id"] for u in api.get(self.URL).json()["results"]] == [body["id"]]
        stranger = APIClient()
        stranger.force_authenticate(seller_member(SellerFactory(), role="owner"))
        assert stranger.get(f"{self.URL}{body['id']}/").status_code == 404
        assert stranger.get(self.URL).json()["results"] == []

    @pytest.mark.parametrize(("form", "field"), [
        ({"file": b"sku,colour\nA,red\n"}, "file"),
        ({"file": b"sku\nA\n", "warehouse": "nowhere"}, "warehouse"),
        ({"file": b"sku\nA\n", "seller": "no-such-seller"}, "seller"),
        ({"file": b"sku\nA\n", "surprise": "1"}, "surprise"),
        ({}, "file"),
    ])
    def test_bad_requests_are_400_on_the_field(self, shop, form, field):
        api = APIClient()
        api.force_authenticate(shop["manager"])
        data = {k: SimpleUploadedFile("s.csv", v) if k == "file" else v for k, v in form.items()}
        response = api.post(self.URL, data, format="multipart")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"], response.json()
        assert not InventoryUpload.objects.exists()

    def test_json_is_415_and_signed_out_is_refused(self, shop):
        api = APIClient()
        assert api.get(self.URL).status_code == 401
        api.force_authenticate(shop["manager"])
        assert api.post(self.URL, {"file": "sku\nA\n"}, format="json").status_code == 415


def test_the_page_of_a_running_upload_follows_its_progress(client, shop):
    running = InventoryUpload.objects.create(
        seller=shop["seller"], warehouse=shop["location"], uploaded_by=shop["manager"], file_name="big.csv",
        content=HEADER, content_sha256="x", dry_run=False, total_rows=1000, processed_rows=300,
        status=InventoryUpload.Status.RUNNING, heartbeat_at=timezone.now())
    client.force_login(shop["manager"])
    page = client.get(reverse("admin:fulfillment_inventoryupload_change", args=[running.pk])).content.decode()
    assert '<meta http-equiv="refresh" content="3">' in page
    assert '<progress max="1000" value="300">' in page
    assert "300 / 1000 (30%)" in page
