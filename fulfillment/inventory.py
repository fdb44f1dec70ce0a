"""Inventory files: a seller's offers and stock from a CSV (writes; ``InventoryUpload``).

One row per offer, found by the seller's SKU::

    sku,product,price,quantity,condition
    KET-1,steel-kettle,23.50,40,new

* ``sku`` (required) finds the seller's offer. An unknown SKU makes a new offer (shipped by the
  seller) and then needs ``product`` (the product's slug) and ``price``.
* ``price``, ``list_price``, ``member_price``, ``condition``, ``handling_days``, ``active`` change
  the offer; ``quantity`` sets the units available to sell in the upload's stock location (units
  already promised to orders are kept on top). An empty cell leaves that value as it is.
* Every row is applied on its own, in its own transaction, through the same services as admin and
  API (so the same checks and permissions hold): a bad row is reported and the others still apply.
  A row that already matches is "unchanged": running a file twice changes nothing the second time.
* A dry run does each row the same way and rolls it back, so it reports exactly what a real run
  would do, errors included. Small files run in the request; large ones in a worker, which saves
  its progress every ``PROGRESS_EVERY`` rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from core import outbox
from core.exceptions import ApplicationError, PermissionDenied
from core.money import validate_price
from fulfillment import selectors, services
from fulfillment.models import InventoryUpload, StockItem, Warehouse
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services

logger = logging.getLogger(__name__)

COLUMNS = ("sku", "product", "price", "quantity", "condition", "list_price", "member_price", "handling_days",
           "active")
PROGRESS_EVERY = 100  # rows between two progress saves of a worker
REPORT_LIMIT = 5000  # rows kept in the report (errors and changes; unchanged rows are only counted)
STALE_AFTER = timedelta(minutes=10)  # a run whose worker said nothing for this long may be taken over
MAX_QUANTITY = 1_000_000
TRUE, FALSE = {"1", "yes", "y", "true", "on", "active"}, {"0", "no", "n", "false", "off", "inactive"}


class _RowError(Exception):
    pass


@dataclass
class RowResult:
    row: int
    sku: str
    result: str = "unchanged"  # created, updated, unchanged, error
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --- reading the file ---------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if len(data) > settings.INVENTORY_UPLOAD_MAX_BYTES:
        raise ApplicationError(_("The file is larger than %(mb)s MB: split it.")
                               % {"mb": settings.INVENTORY_UPLOAD_MAX_BYTES // 1_000_000}, fields={"file": [
                                   _("Too large.")]})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError(_("The file is not UTF-8 text: save it as \"CSV UTF-8\"."),
                               fields={"file": [_("Not UTF-8.")]}) from None
    if "\x00" in text:
        raise ApplicationError(_("This is not a CSV file."), fields={"file": [_("Not a CSV file.")]})
    return text


def _reader(text: str) -> tuple[list[str], csv.reader]:
    """The normalised header and a reader of the rows; the delimiter (comma, semicolon or tab) is
    taken from the header line."""
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [name.strip().lower().replace(" ", "_") for name in next(reader)]
    except (StopIteration, csv.Error):
        raise ApplicationError(_("The file is empty."), fields={"file": [_("Empty.")]}) from None
    unknown = [name for name in header if name not in COLUMNS]
    problems = []
    if unknown:
        problems.append(_("Unknown columns: %(names)s (known: %(known)s).")
                        % {"names": ", ".join(unknown), "known": ", ".join(COLUMNS)})
    if "sku" not in header:
        problems.append(_("The first line must name the columns, with a \"sku\" column."))
    if len(set(header)) != len(header):
        problems.append(_("A column is named twice."))
    if problems:
        raise ApplicationError(" ".join(problems), fields={"file": problems})
    return header, reader


def _rows(text: str):
    """(line number, {column: cell}) for every non-blank row; a row with more cells than columns
    yields None as its cells."""
    header, reader = _reader(text)
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                yield reader.line_num, None
                continue
            yield reader.line_num, {name: (values[i].strip() if i < len(values) else "")
                                    for i, name in enumerate(header)}
    except csv.Error as exc:
        raise ApplicationError(_("The file cannot be read as CSV (line %(line)s): %(error)s")
                               % {"line": reader.line_num, "error": exc}) from None


def _count_rows(text: str) -> int:
    count = 0
    for _line, _cells in _rows(text):
        count += 1
        if count > settings.INVENTORY_UPLOAD_MAX_ROWS:
            raise ApplicationError(_("The file has more than %(n)s rows: split it.")
                                   % {"n": settings.INVENTORY_UPLOAD_MAX_ROWS}, fields={"file": [_("Too many rows.")]})
    if not count:
        raise ApplicationError(_("The file has no rows under its header."), fields={"file": [_("No rows.")]})
    return count


# --- one row ------------------------------------------------------------------------------------


def _whole(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _RowError(_("%(column)s: \"%(value)s\" is not a whole number.") % {"column": name, "value": value[:20]})
    if not low <= number <= high:
        raise _RowError(_("%(column)s must be between %(low)s and %(high)s.") % {"column": name, "low": low,
                                                                                   "high": high})
    return number


def _price(value: str, name: str) -> Decimal:
    try:
        return validate_price(value, field=name, currency=settings.SHOP_CURRENCY)
    except ApplicationError as exc:
        raise _RowError(exc.message) from None


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _conditions() -> dict[str, str]:
    """A condition as written in a file (its code or its label, any case and punctuation) -> code."""
    known = {}
    for code, label in marketplace_selectors.OFFER_CONDITIONS:
        known[_squash(code)] = known[_squash(str(label))] = code
    return known


def _wanted(cells: dict[str, str]) -> dict:
    """The offer fields this row sets (empty cells left out), checked for format."""
    wanted: dict = {}
    for name in ("price", "list_price", "member_price"):
        if cells.get(name):
            wanted[name] = _price(cells[name], name)
    if cells.get("condition"):
        condition = _conditions().get(_squash(cells["condition"]))
        if condition is None:
            known = ", ".join(code for code, _label in marketplace_selectors.OFFER_CONDITIONS)
            raise _RowError(_("condition: \"%(value)s\" is not one of %(known)s.")
                            % {"value": cells["condition"][:30], "known": known})
        wanted["condition"] = condition
    if cells.get("handling_days"):
        wanted["handling_days"] = _whole(cells["handling_days"], "handling_days", 0, 60)
    if cells.get("active"):
        flag = cells["active"].lower()
        if flag not in TRUE | FALSE:
            raise _RowError(_("active: write yes or no."))
        wanted["is_active"] = flag in TRUE
    return wanted


@dataclass
class _Run:
    upload: InventoryUpload
    actor: object
    warehouse: Warehouse | None


def _apply_row(run: _Run, line: int, cells: dict[str, str] | None) -> RowResult:
    if cells is None:
        return RowResult(line, "", "error", errors=[_("More cells than columns.")])
    result = RowResult(line, cells.get("sku", "")[:64])
    try:
        with transaction.atomic():
            _apply_cells(run, cells, result)
            if run.upload.dry_run:
                transaction.set_rollback(True)
    except _RowError as exc:
        result.result, result.changes, result.errors = "error", [], [str(exc)]
    except ApplicationError as exc:
        detail = [f"{name}: {'; '.join(str(m) for m in messages)}" for name, messages in (exc.fields or {}).items()]
        result.result, result.changes = "error", []
        result.errors = [str(exc.message)] + [d for d in detail if d not in str(exc.message)]
    return result


def _apply_cells(run: _Run, cells: dict[str, str], result: RowResult) -> None:
    sku = cells.get("sku", "")
    if not sku:
        raise _RowError(_("sku is empty."))
    if len(sku) > 64:
        raise _RowError(_("sku is longer than 64 characters."))
    wanted = _wanted(cells)
    quantity = _whole(cells["quantity"], "quantity", 0, MAX_QUANTITY) if cells.get("quantity") else None
    seller = run.upload.seller
    offer = marketplace_selectors.offer_of_seller(seller_id=seller.pk, sku=sku)
    if offer is None:
        product = catalog_selectors.product_active(slug=cells.get("product", "")) if cells.get("product") else None
        if cells.get("product") and product is None:
            raise _RowError(_("Unknown product: %(slug)s") % {"slug": cells["product"][:80]})
        if product is None or "price" not in wanted:
            raise _RowError(_("New SKU: give the slug of an active product and a price."))
        offer = marketplace_services.offer_create(
            seller=seller, product=product, sku=sku, price=wanted["price"], list_price=wanted.get("list_price"),
            member_price=wanted.get("member_price"), condition=wanted.get("condition", "new"),
            handling_days=wanted.get("handling_days", 1), is_active=wanted.get("is_active", True), actor=run.actor)
        result.result = "created"
        result.changes.append(_("new offer on %(product)s at %(price)s") % {"product": product.slug,
                                                                             "price": offer.price})
    else:
        if cells.get("product") and cells["product"] != offer.product.slug:
            raise _RowError(_("This SKU is your offer on %(product)s, not on %(other)s.")
                            % {"product": offer.product.slug, "other": cells["product"][:80]})
        changed = {name: value for name, value in wanted.items() if getattr(offer, name) != value}
        if changed:
            before = {name: getattr(offer, name) for name in changed}
            marketplace_services.offer_update(offer=offer, actor=run.actor, **changed)
            result.result = "updated"
            result.changes += [f"{name} {_shown(before[name])} → {_shown(value)}" for name, value in changed.items()]
    if quantity is not None:
        _set_quantity(run, offer, quantity, result)


def _shown(value) -> str:
    if value is True or value is False:
        return _("yes") if value else _("no")
    return "-" if value is None else str(value)


def _set_quantity(run: _Run, offer, quantity: int, result: RowResult) -> None:
    if offer.fulfilled_by_platform:
        raise _RowError(_("Bazaar counts the stock of offers it fulfils: leave quantity empty for this SKU."))
    if run.warehouse is None:
        raise _RowError(_("This seller has no stock location to count the quantity in."))
    item = services.stock_item_ensure(offer=offer, warehouse=run.warehouse, actor=run.actor)
    item = StockItem.objects.only("on_hand", "reserved").get(pk=item.pk)
    available = item.on_hand - item.reserved
    if available == quantity:
        return
    services.stock_set_on_hand(stock_item=item, on_hand=quantity + item.reserved,
                               note=_("inventory upload %(id)s") % {"id": run.upload.pk}, actor=run.actor)
    if result.result == "unchanged":
        result.result = "updated"
    result.changes.append(_("quantity %(before)s → %(after)s") % {"before": available, "after": quantity})


# --- uploads ---------------------------------------------------------------------------------------


def _check_uploader(*, actor, seller) -> None:
    """A seller's members where their role allows it; platform staff holding the permission; the
    system (``actor`` None)."""
    perm = "fulfillment.add_inventoryupload"
    if actor is None:
        pass
    elif marketplace_selectors.seller_scope_for_user(actor) is not None:
        if seller.pk not in marketplace_selectors.seller_ids_with_permission(actor, perm):
            raise PermissionDenied(_("Your role at this seller does not allow uploading its inventory."))
    elif not (actor.is_superuser or actor.has_perm(perm)):
        raise PermissionDenied(_("You may not upload inventory files."))
    if not seller.is_active:
        raise PermissionDenied(_("A suspended seller cannot change its offers."), code="seller_suspended")


def _location(seller, warehouse: Warehouse | None) -> Warehouse | None:
    if warehouse is not None:
        if warehouse.seller_id != seller.pk or warehouse.kind != Warehouse.Kind.SELLER or not warehouse.is_active:
            raise ApplicationError(_("Choose one of this seller's active locations."),
                                   fields={"warehouse": [_("Not a location of this seller.")]})
        return warehouse
    return selectors.seller_first_location(seller_id=seller.pk)


def inventory_file_check(*, data: bytes) -> int:
    """The number of rows of an inventory file, or :class:`ApplicationError` saying what is wrong
    with it as a whole (size, encoding, columns, no rows, too many rows); rows are judged when run."""
    return _count_rows(_decode(data))


def inventory_upload_create(*, seller, actor, file_name: str, data: bytes, dry_run: bool = True,
                            warehouse: Warehouse | None = None) -> InventoryUpload:
    """Check the file (size, text, columns, row count) and record the upload; a file of at most
    ``INVENTORY_UPLOAD_INLINE_ROWS`` rows is run at once, a larger one by a worker after the commit."""
    _check_uploader(actor=actor, seller=seller)
    text = _decode(data)
    total = _count_rows(text)
    location = _location(seller, warehouse)
    upload = InventoryUpload.objects.create(
        seller=seller, warehouse=location, uploaded_by=actor if getattr(actor, "pk", None) else None,
        file_name=(file_name or "inventory.csv")[-200:], content=text,
        content_sha256=hashlib.sha256(data).hexdigest(), dry_run=dry_run, total_rows=total)
    if total <= settings.INVENTORY_UPLOAD_INLINE_ROWS:
        inventory_upload_run(upload_id=upload.pk)
        upload.refresh_from_db()
    else:
        from fulfillment.tasks import run_inventory_upload  # tasks import services

        outbox.enqueue(run_inventory_upload, upload.pk)
    return upload


def inventory_upload_apply(*, upload: InventoryUpload, actor) -> InventoryUpload:
    """The real run of a finished dry run's file (the dry run itself stays as it was)."""
    if not upload.dry_run or upload.status != InventoryUpload.Status.DONE:
        raise ApplicationError(_("Only a finished dry run can be applied."), code="not_a_dry_run")
    return inventory_upload_create(seller=upload.seller, actor=actor, file_name=upload.file_name,
                                   data=upload.content.encode(), dry_run=False, warehouse=upload.warehouse)


def _claim(upload_id: int) -> bool:
    now = timezone.now()
    return bool(InventoryUpload.objects.filter(pk=upload_id).filter(
        Q(status=InventoryUpload.Status.QUEUED)
        | Q(status=InventoryUpload.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER),
    ).update(status=InventoryUpload.Status.RUNNING, started_at=now, heartbeat_at=now, processed_rows=0))


def inventory_upload_run(*, upload_id: int) -> InventoryUpload | None:
    """Run an upload's rows once (a second delivery of the job finds it running or done and does
    nothing; a run whose worker died is taken over after ``STALE_AFTER`` and, rows being
    idempotent, starts again from the top)."""
    if not _claim(upload_id):
        return None
    upload = InventoryUpload.objects.select_related("seller", "warehouse", "uploaded_by").get(pk=upload_id)
    run = _Run(upload=upload, actor=upload.uploaded_by, warehouse=upload.warehouse)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "error": 0}
    report: list[dict] = []
    seen: dict[str, int] = {}
    done = 0
    try:
        for line, cells in _rows(upload.content):
            sku = (cells or {}).get("sku", "")
            if sku and sku in seen:
                result = RowResult(line, sku, "error", errors=[_("This SKU is on line %(line)s already.")
                                                              % {"line": seen[sku]}])
            else:
                result = _apply_row(run, line, cells)
                if sku:
                    seen[sku] = line
            counts[result.result] += 1
            if result.result != "unchanged" and len(report) < REPORT_LIMIT:
                report.append({"line": result.row, "sku": result.sku, "result": result.result,
                               "changes": result.changes, "errors": result.errors})
            done += 1
            if done % PROGRESS_EVERY == 0:
                _save_progress(upload_id, done, counts)
    except Exception as exc:  # noqa: BLE001 - reported on the upload; rows applied so far stay (idempotent)
        logger.exception("inventory upload %s failed", upload_id)
        InventoryUpload.objects.filter(pk=upload_id).update(
            status=InventoryUpload.Status.FAILED, finished_at=timezone.now(), report=report,
            failure=str(getattr(exc, "message", "")) or _("An unexpected error stopped the run; upload the file "
                                                         "again (rows already applied are kept)."),
            **_count_fields(done, counts))
        return None
    InventoryUpload.objects.filter(pk=upload_id).update(
        status=InventoryUpload.Status.DONE, finished_at=timezone.now(), report=report, total_rows=done,
        **_count_fields(done, counts))
    return upload


def _count_fields(done: int, counts: dict[str, int]) -> dict:
    return {"processed_rows": done, "created_count": counts["created"], "updated_count": counts["updated"],
            "unchanged_count": counts["unchanged"], "error_count": counts["error"]}


def _save_progress(upload_id: int, done: int, counts: dict[str, int]) -> None:
    InventoryUpload.objects.filter(pk=upload_id).update(heartbeat_at=timezone.now(), **_count_fields(done, counts))
