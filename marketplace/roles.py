"""What a seller's members may do, by role: the one table behind their admin groups and the checks
in services and the API.

A member gets the Django group of their role (``ROLE_GROUPS``), holding exactly the permissions
below; every row they touch is further limited to their own sellers (``marketplace.admin_scoping``),
and to the sellers where *their role there* grants the permission (someone can be owner at one
seller and staff at another). Changing a member's role swaps the group in the same transaction,
so their rights change at their next request.

* **staff**: see the seller's offers, stock, ledger, invoices, packages and sold lines; set tracking numbers and
  ship the seller's own packages (shipped by the seller; Bazaar ships the ones it fulfils). Delivery
  is confirmed by the carrier's tracking or Bazaar staff, never by the seller.
* **manager**: what staff do, plus list and edit offers (prices, member prices, activity), propose
  new products (shown once Bazaar approves them) and receive or correct stock in the seller's own
  locations.
* **owner**: what managers do, plus manage the team (change roles, remove members; adding someone
  needs the user directory and stays with platform staff).

No role lets a seller switch an offer to fulfilment by Bazaar, touch stock in a Bazaar fulfilment
centre, ship a package Bazaar fulfils, or change the seller's commission, rating or standing: those
belong to platform staff (staff who belong to no seller), by their own permissions.

Permissions are named by string ("app_label.codename"), also those of apps above this one; naming a
permission imports nothing.
"""

from __future__ import annotations

OWNER, MANAGER, STAFF = "owner", "manager", "staff"

_STAFF = frozenset({
    "marketplace.view_seller",
    "marketplace.view_offer",
    "marketplace.view_productproposal",  # the products the seller proposed, and what staff decided
    "catalog.view_product",
    "fulfillment.view_warehouse",
    "fulfillment.view_stockitem",
    "fulfillment.view_stockmovement",
    "orders.view_package",
    "orders.view_orderline",
    "orders.change_package",  # the tracking number, before the package ships
    "orders.ship_package",  # ship (own packages, shipped by the seller); never confirm their delivery
    "finance.view_ledgerentry",  # the seller's own ledger and balance
    "finance.view_payout",  # and their payouts
    "finance.view_sellerhealth",  # and their account health
    "finance.view_invoice",  # the invoices they issued as merchant of record (PDF included)
    "finance.view_creditnote",  # and their credit notes
    "fulfillment.view_inventoryupload",  # inventory files and their reports
    "fulfillment.view_sizetier",  # Bazaar's size tiers and fulfilment fees (the same for every seller)
    "fulfillment.view_fulfilmentfeerate",
    "fulfillment.view_inboundshipment",  # stock sent to Bazaar's centres, and what was received
    "fulfillment.view_inbounditem",
    "fulfillment.view_storagerate",  # storage rates, and the seller's monthly storage charges
    "fulfillment.view_storagecharge",
    "fulfillment.view_removalorder",  # stock asked back from Bazaar's centres
    "orders.view_claim",  # buyers' claims against the seller
    "orders.view_returnrequest",  # shoppers' returns of the seller's own packages, their lines,
    "orders.view_returnline",  # photos and history
    "orders.view_returnphoto",
    "orders.view_returnevent",
    "insights.view_dailymetric",  # insights: the KPI dashboard, limited to their own seller's slice
})

_MANAGER = _STAFF | {
    "marketplace.add_offer",
    "marketplace.change_offer",
    "marketplace.add_productproposal",  # propose a product the catalogue lacks (hidden until approved)
    "marketplace.change_productproposal",  # correct it while it waits for review
    "fulfillment.add_stockitem",
    "fulfillment.change_stockitem",
    "fulfillment.receive_stock",
    "fulfillment.adjust_stock",
    "fulfillment.add_inventoryupload",  # offers and stock from a CSV file (same checks as one by one)
    "fulfillment.add_inboundshipment",  # plan, label and ship stock to a Bazaar centre (Bazaar receives it)
    "fulfillment.change_inboundshipment",
    "fulfillment.add_inbounditem",
    "fulfillment.change_inbounditem",
    "fulfillment.delete_inbounditem",
    "fulfillment.add_removalorder",  # ask stock back from Bazaar's centres (Bazaar sends it, for a fee)
    "fulfillment.change_removalorder",
    "orders.change_claim",  # answer a buyer's claim (Bazaar decides it)
    "orders.change_returnrequest",  # approve, refuse or offer a partial refund; receive and inspect
}

_OWNER = _MANAGER | {
    "marketplace.view_sellermember",
    "marketplace.change_sellermember",
    "marketplace.delete_sellermember",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {OWNER: _OWNER, MANAGER: _MANAGER, STAFF: _STAFF}

ROLE_GROUPS: dict[str, str] = {OWNER: "Seller owners", MANAGER: "Seller managers", STAFF: "Seller staff"}

SELLER_GROUPS: tuple[str, ...] = tuple(ROLE_GROUPS.values())


def role_allows(role: str | None, perm: str) -> bool:
    """Whether a member with ``role`` at a seller may use ``perm`` ("app_label.codename") there."""
    return perm in ROLE_PERMISSIONS.get(role or "", frozenset())


def group_permissions(role: str) -> list[tuple[str, str]]:
    """``(app_label, codename)`` pairs of the role's group, in a stable order."""
    return sorted(tuple(perm.split(".", 1)) for perm in ROLE_PERMISSIONS[role])
