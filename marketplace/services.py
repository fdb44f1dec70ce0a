"""Writes for the marketplace: sellers, their members, offers and the buy box."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts import services as account_services
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from core import events, outbox
from core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from core.money import validate_price
from marketplace import buy_box, roles, selectors
from marketplace import events as marketplace_events
from marketplace.models import (
    BuyBox,
    Offer,
    ProductProposal,
    Seller,
    SellerApplication,
    SellerApplicationEvent,
    SellerMember,
    SellerStandingEvent,
)

logger = logging.getLogger(__name__)

REFRESH_BATCH = 1000  # products per buy-box task


# --- seller roles: one Django group per role (see marketplace.roles) ---------------------------------


def _role_group(role: str):
    return account_services.staff_group_ensure(
        name=roles.ROLE_GROUPS[role], permissions=roles.group_permissions(role)
    )


def _role_groups_sync(user) -> bool:
    """Give ``user`` exactly the groups of the roles they hold now (at any seller). A user left in
    no seller loses admin access too, unless something else makes them staff. Returns whether
    ``is_staff`` was turned off. Call with the user's row locked."""
    held = set(SellerMember.objects.filter(user_id=user.pk).values_list("role", flat=True))
    for role in sorted(held):  # grant first, so dropping a group never takes admin access away
        account_services.user_grant_staff_group(user=user, group=_role_group(role))
    revoked = False
    for role, name in roles.ROLE_GROUPS.items():
        if role not in held:
            revoked = account_services.user_revoke_staff_group(user=user, group_name=name) or revoked
    return revoked


def seller_groups_refresh() -> None:
    """Bring the role groups up to date with ``marketplace.roles`` and every member's roles (run
    after each migrate: a new permission reaches existing members, and members from before roles
    had groups get the group of their role)."""
    memberships = list(SellerMember.objects.values_list("user_id", "role"))
    members = {user_id for user_id, _role in memberships}
    for role in roles.ROLE_GROUPS:
        group = _role_group(role)
        should = {user_id for user_id, held in memberships if held == role}
        account_services.group_members_sync(group=group, members=should, among=members)


# --- sellers ------------------------------------------------------------------------------


def seller_create(
    *, name: str, slug: str = "", email: str = "", country: str = "US", description: str = "",
    rating: Decimal = Decimal(0), rating_count: int = 0,
) -> Seller:
    seller = Seller.objects.create(
        name=name, slug=slug or slugify(name), email=email, country=country, description=description,
        rating=rating, rating_count=rating_count,
    )
    events.record(marketplace_events.SELLER_CREATED, aggregate="seller", aggregate_id=seller.pk, seller_id=seller.pk)
    return seller


def seller_save(*, seller: Seller) -> Seller:
    """Save a seller edited elsewhere (admin); its products' buy boxes follow a change of standing."""
    previous = None
    if seller.pk:
        previous = Seller.objects.filter(pk=seller.pk).values_list("is_active", "rating").first()
    with transaction.atomic():
        seller.save()
        if previous is not None and previous != (seller.is_active, seller.rating):
            product_ids = Offer.objects.filter(seller=seller).values_list("product_id", flat=True).distinct()
            buy_box_request_refresh(product_ids=list(product_ids))
    return seller


def seller_member_add(*, seller: Seller, user, role: str = SellerMember.Role.STAFF) -> SellerMember:
    """Make ``user`` a member of ``seller`` with ``role``: they can sign in to admin with the rights of
    that role (``marketplace.roles``), on that seller's rows only."""
    if role not in SellerMember.Role.values:
        raise ApplicationError(_("Unknown role."), fields={"role": [_("Choose owner, manager or staff.")]})
    with transaction.atomic():
        member, created = SellerMember.objects.get_or_create(seller=seller, user=user, defaults={"role": role})
        if not created and member.role != role:  # re-adding with another role: the last-owner rule holds
            member = seller_member_change_role(member=member, role=role)
        # the user row last, as seller_member_remove takes it: "which sellers is this user in" is serialised
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        _role_groups_sync(user)
    return member


def _owner_ids_locked(seller_id: int) -> list[int]:
    """Lock the seller's owner rows (in primary-key order, so concurrent callers cannot deadlock)
    and return their ids: two removals or demotions at once cannot then leave the seller with none."""
    return list(
        SellerMember.objects.select_for_update()
        .filter(seller_id=seller_id, role=SellerMember.Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _member_locked(member: SellerMember) -> SellerMember:
    current = SellerMember.objects.select_for_update().filter(pk=member.pk).first()
    if current is None:
        raise NotFound(_("This person is no longer a member of this seller."))
    return current


def _refuse_last_owner(current: SellerMember, owner_ids: list[int]) -> None:
    if current.role == SellerMember.Role.OWNER and not [pk for pk in owner_ids if pk != current.pk]:
        raise ApplicationError(_("A seller needs at least one owner."), code="last_owner")


def seller_member_remove(*, member: SellerMember, actor=None) -> None:
    """End ``member``'s membership. The user keeps only the groups of roles held elsewhere; one left in
    no seller loses the seller groups and admin access
    (``accounts.services.user_revoke_staff_group``); admin checks ``is_staff`` on every request, so a session
    already signed in loses it at its next request. The last owner of a seller cannot be removed."""
    with transaction.atomic():
        owner_ids = _owner_ids_locked(member.seller_id)
        current = _member_locked(member)
        _refuse_last_owner(current, owner_ids)
        # The user row is the lock for "which sellers is this user in": a concurrent removal from
        # another seller waits here, then sees this one gone and revokes access if it was the last.
        user = get_user_model().objects.select_for_update().get(pk=current.user_id)
        member_id, role = current.pk, current.role
        current.delete()
        revoked = _role_groups_sync(user)
        events.record(
            marketplace_events.SELLER_MEMBER_REMOVED, aggregate="seller", aggregate_id=current.seller_id,
            member_id=member_id, seller_id=current.seller_id,
            user_id=user.pk, role=role, staff_revoked=revoked, actor_id=getattr(actor, "pk", None),
        )


def seller_member_change_role(*, member: SellerMember, role: str, actor=None) -> SellerMember:
    """Give ``member`` another role, and with it that role's rights (its group); the last owner of a
    seller cannot be demoted."""
    if role not in SellerMember.Role.values:
        raise ApplicationError(_("Unknown role."), fields={"role": [_("Choose owner, manager or staff.")]})
    with transaction.atomic():
        owner_ids = _owner_ids_locked(member.seller_id)
        current = _member_locked(member)
        if current.role == role:
            return current
        _refuse_last_owner(current, owner_ids)
        old_role, current.role = current.role, role
        current.save(update_fields=["role"])
        # The group follows the role in this transaction: the new rights apply from the next request.
        user = get_user_model().objects.select_for_update().get(pk=current.user_id)
        _role_groups_sync(user)
        events.record(
            marketplace_events.SELLER_MEMBER_ROLE_CHANGED, aggregate="seller", aggregate_id=current.seller_id,
            member_id=current.pk, seller_id=current.seller_id,
            user_id=current.user_id, old_role=old_role, role=role, actor_id=getattr(actor, "pk", None),
        )
    return current


# --- offers -------------------------------------------------------------------------------


PRICE_FIELDS = ("price", "list_price", "member_price")


def _money(value, field: str) -> Decimal:
    """A price typed by a seller or staff: a number above zero, at most ``MAX_PRICE``."""
    if isinstance(value, float):  # e.g. a JSON number parsed elsewhere: go through its text
        value = str(value)
    return validate_price(value, field=field, currency=settings.SHOP_CURRENCY)


def _check_member_price(price: Decimal, member_price: Decimal | None) -> None:
    if member_price is not None and member_price >= price:
        raise ApplicationError(
            _("The member price must be below the price."),
            fields={"member_price": [_("Must be below the price.")]}, code="member_price",
        )


def _check_offer_actor(*, actor, perm: str, seller_ids: set[int], channel_from: str | None, channel_to: str) -> None:
    """A seller's member writes only offers of sellers where their role grants ``perm``, and never
    moves an offer onto or off fulfilment by Bazaar: that puts stock in (or takes it out of) Bazaar's
    centres and Bazaar's packages, which only platform staff act on (invariant 7 in docs/architecture.md).
    ``actor`` None is the system itself (imports, demo data); platform staff and superusers pass."""
    if actor is None or selectors.seller_scope_for_user(actor) is None:
        return
    if not seller_ids <= selectors.seller_ids_with_permission(actor, perm):
        raise PermissionDenied(_("Your role at this seller does not allow changing its offers."))
    platform = Offer.Channel.PLATFORM
    if channel_to != channel_from and platform in (channel_from, channel_to):
        message = _("Only Bazaar staff decide whether Bazaar fulfils an offer: send your stock to a Bazaar "
                    "fulfilment centre and ask Bazaar to switch it.")
        raise PermissionDenied(message, code="platform_fulfilment", fields={"fulfillment_channel": [message]})


def offer_create(
    *, seller: Seller, product, sku: str, price, list_price=None, member_price=None,
    condition: str = Offer.Condition.NEW, fulfillment_channel: str = Offer.Channel.MERCHANT,
    handling_days: int = 1, is_active: bool = True, actor=None,
) -> Offer:
    """A new offer. ``actor`` (the user asking, None for the system): see :func:`_check_offer_actor`."""
    _check_offer_actor(actor=actor, perm="marketplace.add_offer", seller_ids={seller.pk}, channel_from=None,
                       channel_to=fulfillment_channel)
    price = _money(price, "price")
    list_price = _money(list_price, "list_price") if list_price not in (None, "") else None
    member_price = _money(member_price, "member_price") if member_price not in (None, "") else None
    _check_member_price(price, member_price)
    try:
        with transaction.atomic():
            offer = Offer.objects.create(
                seller=seller, product=product, sku=sku.strip(), price=price, list_price=list_price,
                member_price=member_price,
                currency=settings.SHOP_CURRENCY, condition=condition, fulfillment_channel=fulfillment_channel,
                handling_days=handling_days, is_active=is_active,
            )
    except IntegrityError:
        raise ApplicationError(
            _("This seller already has that SKU, or an offer for this product in this condition."),
            code="duplicate_offer",
        ) from None
    events.record(marketplace_events.OFFER_CREATED, aggregate="offer", aggregate_id=offer.pk, offer_id=offer.pk,
                  product_id=product.pk, seller_id=seller.pk)
    buy_box_request_refresh(product_ids=[product.pk])
    return offer


def offer_update(*, offer: Offer, actor=None, **fields) -> Offer:
    allowed = {
        "price", "list_price", "member_price", "condition", "fulfillment_channel", "handling_days", "is_active", "sku",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError(_("These fields cannot be changed: %s") % ", ".join(sorted(unknown)))
    if "price" in fields:
        fields["price"] = _money(fields["price"], "price")
    for name in ("list_price", "member_price"):
        if fields.get(name) not in (None, ""):
            fields[name] = _money(fields[name], name)
        elif name in fields:
            fields[name] = None
    for name, value in fields.items():
        setattr(offer, name, value)
    return offer_save(offer=offer, actor=actor)


def offer_save(*, offer: Offer, actor=None) -> Offer:
    """Save an offer edited in admin or API and refresh its product's buy box after commit.
    ``actor`` (the user asking, None for the system): see :func:`_check_offer_actor`."""
    stored = {}
    if offer.pk:
        stored = Offer.objects.filter(pk=offer.pk).values(*PRICE_FIELDS).first() or {}
    for name in PRICE_FIELDS:
        # A price set now must be sane; one stored before MAX_PRICE existed does not block other changes
        # (deactivating the offer, say): pricing refuses an order it would make too large.
        value = getattr(offer, name)
        if value is not None and (not stored or stored[name] != value):
            setattr(offer, name, _money(value, name))
    _check_member_price(offer.price, offer.member_price)
    previous_product = None
    try:
        with transaction.atomic():
            previous = None
            if offer.pk:  # locked: two saves of one offer cannot both judge the channel switch
                previous = (
                    Offer.objects.select_for_update().filter(pk=offer.pk)
                    .values_list("product_id", "seller_id", "fulfillment_channel").first()
                )
            sellers = {offer.seller_id} | ({previous[1]} if previous else set())
            _check_offer_actor(
                actor=actor, perm="marketplace.change_offer" if previous else "marketplace.add_offer",
                seller_ids=sellers, channel_from=previous[2] if previous else None,
                channel_to=offer.fulfillment_channel,
            )
            if previous and (previous[0], previous[1]) != (offer.product_id, offer.seller_id):
                # Its stock, orders and reviews are of that product from that seller.
                raise ApplicationError(
                    _("An offer stays on its product and with its seller: list a new offer instead."),
                    code="offer_moved", fields={"product": [_("It cannot be changed.")]})
            previous_product = previous[0] if previous else None
            offer.save()
    except IntegrityError:
        raise ApplicationError(
            _("This seller already has that SKU, or an offer for this product in this condition."),
            code="duplicate_offer",
        ) from None
    events.record(marketplace_events.OFFER_CHANGED, aggregate="offer", aggregate_id=offer.pk, offer_id=offer.pk,
                  product_id=offer.product_id)
    buy_box_request_refresh(product_ids={offer.product_id, previous_product} - {None})
    return offer


# --- buy box ------------------------------------------------------------------------------


def buy_box_request_refresh(*, product_ids: Iterable[int] = (), offer_ids: Iterable[int] = ()) -> None:
    """These products' (or these offers' products') buy boxes may have changed: say so with a
    durable event (written in the current transaction, one per batch), which the composition point
    hands to a worker that refreshes them with the shop's strategy (``EVENT_CONSUMERS``). Nothing
    is computed or even looked up here, so a request that changes stock never waits for it."""
    for key, values in (("product_ids", product_ids), ("offer_ids", offer_ids)):
        ids = sorted({int(i) for i in values})
        for start in range(0, len(ids), REFRESH_BATCH):
            events.record(marketplace_events.BUY_BOX_STALE, aggregate="buy_box",
                          **{key: ids[start : start + REFRESH_BATCH]})


def buy_box_refresh(*, product_ids: Iterable[int], inputs: buy_box.BuyBoxInputs) -> dict[int, int | None]:
    """Choose and store the winning offer of each product for everyone (``inputs``: the strategy
    of a background job, no member benefits); returns product id -> offer id.

    A constant number of queries per batch, whatever the number of products or offers.
    """
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        return {}
    with transaction.atomic():
        # Serialise refreshes of the same products so an older snapshot never overwrites a
        # newer one; reads below then see everything committed before the lock was granted.
        locked = catalog_services.products_lock(product_ids=ids)
        return _buy_box_compute_and_store(locked, inputs)


@dataclass(frozen=True)
class BuyBoxChoice:
    """The buy box of one product as computed (not yet stored): its winner (None: nothing sells),
    the winner's shipping and how many offers could sell."""

    product_id: int
    winner: Offer | None
    shipping: Decimal | None
    eligible_offer_count: int

    @property
    def price(self) -> Decimal | None:
        return self.winner.price if self.winner else None

    @property
    def landed_price(self) -> Decimal | None:
        return self.winner.price + self.shipping if self.winner else None

    @property
    def currency(self) -> str:
        return self.winner.currency if self.winner else settings.SHOP_CURRENCY

    def listing_row(self) -> catalog_services.ListingRow:
        """The copy catalog keeps on the product (price, stock and offer count of its listing)."""
        winner = self.winner
        return catalog_services.ListingRow(
            product_id=self.product_id, price=self.price, currency=self.currency,
            offer_id=winner.pk if winner else None, in_stock=winner is not None,
            offer_count=self.eligible_offer_count, member_price=winner.member_price if winner else None,
            member_delivery=bool(winner and winner.fulfilled_by_platform),
        )


def buy_box_choose(
    *, product_ids: Sequence[int], offers: Iterable[Offer], inputs: buy_box.BuyBoxInputs
) -> list[BuyBoxChoice]:
    """Rank ``offers`` (every offer of these products, each with its seller) with ``inputs`` and
    return each product's buy box, in ``product_ids`` order. Stores nothing: callers store the
    boxes and the listing rows (:func:`buy_box_refresh`, or a bulk loader for new products)."""
    offers_by_product: dict[int, list[Offer]] = {pid: [] for pid in product_ids}
    for offer in offers:
        offers_by_product[offer.product_id].append(offer)
    chosen, facts = buy_box.winners_for(offers_by_product, inputs)
    choices = []
    for pid in product_ids:
        winner = chosen.get(pid)
        eligible = sum(1 for o in offers_by_product[pid] if buy_box.is_eligible(o, facts.get(o.pk)))
        choices.append(BuyBoxChoice(
            product_id=pid, winner=winner, shipping=facts[winner.pk].shipping if winner else None,
            eligible_offer_count=eligible,
        ))
    return choices


def _buy_box_compute_and_store(ids: list[int], inputs: buy_box.BuyBoxInputs) -> dict[int, int | None]:
    offers = Offer.objects.filter(product_id__in=ids).select_related("seller").order_by("pk")
    choices = buy_box_choose(product_ids=ids, offers=offers, inputs=inputs)
    now = timezone.now()
    BuyBox.objects.bulk_create(
        [
            BuyBox(
                product_id=c.product_id, offer=c.winner, price=c.price, shipping=c.shipping,
                landed_price=c.landed_price, currency=c.currency, eligible_offer_count=c.eligible_offer_count,
                refreshed_at=now,
            )
            for c in choices
        ],
        update_conflicts=True, unique_fields=["product"],
        update_fields=["offer", "price", "shipping", "landed_price", "currency", "eligible_offer_count",
                       "refreshed_at"],
        batch_size=1000,
    )
    catalog_services.product_listing_update(rows=[c.listing_row() for c in choices])
    return {c.product_id: c.winner.pk if c.winner else None for c in choices}


# --- selling on Bazaar: applications ---------------------------------------------------------------

APPLICATION_FIELDS = ("legal_name", "store_name", "contact_name", "email", "phone", "country", "tax_id",
                      "bank_account_holder", "bank_account", "bank_routing", "expected_volume")


def _iban_valid(iban: str) -> bool:
    """ISO 13616: two letters, two check digits, up to 30 letters and digits; mod 97 of the
    rearranged number is 1."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _aba_valid(routing: str) -> bool:
    """A US routing number: nine digits whose weighted sum (3, 7, 1, ...) is a multiple of 10."""
    if not re.fullmatch(r"\d{9}", routing):
        return False
    return sum(int(d) * w for d, w in zip(routing, (3, 7, 1) * 3, strict=True)) % 10 == 0


def _clean_application(data: dict) -> dict:
    """The application's fields, normalised; every problem named by its field (ApplicationError)."""
    clean = {name: str(data.get(name) or "").strip() for name in APPLICATION_FIELDS}
    errors: dict[str, list[str]] = {}
    for name in ("legal_name", "store_name", "contact_name", "email", "country", "tax_id", "bank_account_holder",
                 "bank_account", "expected_volume"):
        if not clean[name]:
            errors.setdefault(name, []).append(_("Required."))
    clean["country"] = clean["country"].upper()
    if clean["country"] and not re.fullmatch(r"[A-Z]{2}", clean["country"]):
        errors.setdefault("country", []).append(_("A two-letter country code, e.g. US or DE."))
    tax_id = re.sub(r"[\s.]", "", clean["tax_id"]).upper()
    if tax_id and not re.fullmatch(r"[A-Z0-9-]{5,20}", tax_id):
        errors.setdefault("tax_id", []).append(_("5 to 20 letters, digits or dashes."))
    elif clean["country"] == "US" and tax_id and not re.fullmatch(r"\d{2}-?\d{7}", tax_id):
        errors.setdefault("tax_id", []).append(_("A US employer identification number: 12-3456789."))
    clean["tax_id"] = tax_id
    account = re.sub(r"\s", "", clean["bank_account"]).upper()
    routing = re.sub(r"\s", "", clean["bank_routing"])
    if account and clean["country"] == "US":
        if not re.fullmatch(r"\d{4,17}", account):
            errors.setdefault("bank_account", []).append(_("A US account number: 4 to 17 digits."))
        if not _aba_valid(routing):
            errors.setdefault("bank_routing", []).append(_("A nine-digit routing number (its check digit is wrong)."))
    elif account:
        if not _iban_valid(account):
            errors.setdefault("bank_account", []).append(_("Not a valid IBAN (check the digits)."))
        routing = ""
    clean["bank_account"], clean["bank_routing"] = account, routing
    if clean["expected_volume"] and clean["expected_volume"] not in SellerApplication.Volume.values:
        errors.setdefault("expected_volume", []).append(_("Choose one of the ranges."))
    if clean["email"]:
        try:
            validate_email(clean["email"])
        except ValidationError:
            errors.setdefault("email", []).append(_("Not an e-mail address."))
    for name, limit in (("legal_name", 200), ("store_name", 120), ("contact_name", 150), ("phone", 30),
                        ("bank_account_holder", 150)):
        if len(clean[name]) > limit:
            errors.setdefault(name, []).append(_("At most %(n)s characters.") % {"n": limit})
    categories = [int(c) for c in data.get("categories") or [] if str(c).isdigit()]
    if not categories:
        errors.setdefault("categories", []).append(_("Choose at least one category."))
    if not data.get("accept_terms"):
        errors.setdefault("accept_terms", []).append(_("Accept the seller terms to apply."))
    if errors:
        raise ApplicationError(_("Some fields are not valid."), fields=errors)
    clean["categories"] = categories
    return clean


def _application_event(application: SellerApplication, from_status: str, message: str = "", actor=None) -> None:
    SellerApplicationEvent.objects.create(application=application, from_status=from_status,
                                          to_status=application.status, message=message, actor=actor)
    from marketplace.tasks import send_application_email  # tasks import services

    outbox.enqueue(send_application_email, application.pk, application.status)


def application_submit(*, applicant, data: dict) -> SellerApplication:
    """Apply to sell (a signed-in customer; one open application at a time). Staff are asked to
    review it and the applicant gets a confirmation by e-mail."""
    clean = _clean_application(data)
    categories = clean.pop("categories")
    with transaction.atomic():
        if SellerApplication.objects.filter(applicant=applicant, status__in=SellerApplication.OPEN).exists():
            raise Conflict(_("You have an application under review already."), code="application_open")
        application = SellerApplication(applicant=applicant, terms_accepted_at=timezone.now(), **clean)
        try:
            with transaction.atomic():
                application.save()
        except IntegrityError:  # the same applicant submitting twice at once
            raise Conflict(_("You have an application under review already."), code="application_open")
        application.categories.set(catalog_selectors.categories_by_ids(ids=categories))
        _application_event(application, "", actor=applicant)
    return application


def application_resubmit(*, application: SellerApplication, applicant, data: dict) -> SellerApplication:
    """The applicant answers a request for more information with a corrected application."""
    clean = _clean_application(data)
    categories = clean.pop("categories")
    with transaction.atomic():
        locked = SellerApplication.objects.select_for_update().get(pk=application.pk)
        if locked.applicant_id != applicant.pk:
            raise NotFound(_("No such application."))
        if locked.status != SellerApplication.Status.NEEDS_INFO:
            raise Conflict(_("This application cannot be changed now."), code="application_closed")
        for name, value in clean.items():
            setattr(locked, name, value)
        locked.status, locked.updated_at, locked.terms_accepted_at = (
            SellerApplication.Status.SUBMITTED, timezone.now(), timezone.now())
        locked.save()
        locked.categories.set(catalog_selectors.categories_by_ids(ids=categories))
        _application_event(locked, SellerApplication.Status.NEEDS_INFO, actor=applicant)
    return locked


def _decide(application: SellerApplication, *, actor, to: str, message: str) -> tuple[SellerApplication, str]:
    if not (getattr(actor, "is_superuser", False) or getattr(actor, "has_perm", lambda p: False)(
            "marketplace.review_sellerapplication")) or selectors.seller_scope_for_user(actor) is not None:
        raise PermissionDenied(_("Only platform staff review seller applications."))
    locked = SellerApplication.objects.select_for_update().get(pk=application.pk)
    if locked.status != SellerApplication.Status.SUBMITTED:
        raise Conflict(_("This application was decided already (%(status)s).")
                       % {"status": locked.get_status_display()}, code="application_decided")
    previous = locked.status
    locked.status, locked.review_message = to, message
    locked.reviewed_by, locked.reviewed_at, locked.updated_at = actor, timezone.now(), timezone.now()
    return locked, previous


@transaction.atomic
def application_approve(*, application: SellerApplication, actor, message: str = "") -> SellerApplication:
    """Approve: the seller is created (inactive offers until they list some) with the applicant as
    its owner, who can then sign in to admin, scoped to that seller."""
    locked, previous = _decide(application, actor=actor, to=SellerApplication.Status.APPROVED, message=message)
    slug = base = slugify(locked.store_name)[:120] or "seller"
    n = 1
    while Seller.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    seller = seller_create(name=locked.store_name, slug=slug, email=locked.email, country=locked.country)
    seller_member_add(seller=seller, user=locked.applicant, role=SellerMember.Role.OWNER)
    locked.seller = seller
    locked.save()
    _application_event(locked, previous, message, actor)
    events.record(marketplace_events.SELLER_APPROVED, aggregate="seller", aggregate_id=seller.pk,
                  seller_id=seller.pk, application_id=locked.pk)
    return locked


@transaction.atomic
def application_reject(*, application: SellerApplication, actor, reason: str) -> SellerApplication:
    """Reject, with the reason the applicant is told."""
    if not (reason or "").strip():
        raise ApplicationError(_("Say why the application is rejected."), fields={"review_message": [_("Required.")]})
    locked, previous = _decide(application, actor=actor, to=SellerApplication.Status.REJECTED, message=reason.strip())
    locked.save()
    _application_event(locked, previous, locked.review_message, actor)
    return locked


@transaction.atomic
def application_request_info(*, application: SellerApplication, actor, message: str) -> SellerApplication:
    """Send the application back to the applicant with what is missing; they correct and resubmit."""
    if not (message or "").strip():
        raise ApplicationError(_("Say what information is needed."), fields={"review_message": [_("Required.")]})
    locked, previous = _decide(application, actor=actor, to=SellerApplication.Status.NEEDS_INFO,
                               message=message.strip())
    locked.save()
    _application_event(locked, previous, locked.review_message, actor)
    return locked


# --- a seller's standing: suspended and reinstated by platform staff ---------------------------------


def _set_standing(*, seller: Seller, active: bool, reason: str, actor) -> Seller:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(_("Give the reason (the seller's history keeps it)."),
                               fields={"reason": [_("Required.")]})
    if getattr(actor, "pk", None) and selectors.seller_scope_for_user(actor) is not None:
        raise PermissionDenied(_("Only platform staff suspend or reinstate sellers."))
    with transaction.atomic():
        locked = Seller.objects.select_for_update().get(pk=seller.pk)
        if locked.is_house:
            raise ApplicationError(_("The house seller cannot be suspended."), code="house_seller")
        if locked.is_active == active:
            raise Conflict(_("This seller is already %(state)s.")
                           % {"state": _("active") if active else _("suspended")}, code="standing_unchanged")
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        action = SellerStandingEvent.Action.REINSTATED if active else SellerStandingEvent.Action.SUSPENDED
        SellerStandingEvent.objects.create(seller=locked, action=action, reason=reason[:300],
                                           actor=actor if getattr(actor, "pk", None) else None)
        product_ids = Offer.objects.filter(seller=locked).values_list("product_id", flat=True).distinct()
        buy_box_request_refresh(product_ids=list(product_ids))
        catalog_services.catalog_changed()  # every cached page showing its offers, at the commit (rare)
    seller.is_active = active
    return seller


def seller_suspend(*, seller: Seller, reason: str, actor=None) -> Seller:
    """Suspend a seller: its offers stop selling at once (pages, carts, checkout); orders already
    placed continue (they ship and are paid out as usual). Kept in the seller's history."""
    return _set_standing(seller=seller, active=False, reason=reason, actor=actor)


def seller_reinstate(*, seller: Seller, reason: str, actor=None) -> Seller:
    """Let a suspended seller sell again."""
    return _set_standing(seller=seller, active=True, reason=reason, actor=actor)


def seller_rating_set(*, seller_id: int, rating: Decimal, count: int) -> None:
    """The seller's rating as computed from buyers' feedback (orders); it ranks offers in the buy
    box, so their products' buy boxes are refreshed."""
    with transaction.atomic():
        changed = Seller.objects.filter(pk=seller_id).exclude(rating=rating, rating_count=count).update(
            rating=rating, rating_count=count)
        if changed:
            product_ids = Offer.objects.filter(seller_id=seller_id).values_list("product_id", flat=True).distinct()
            buy_box_request_refresh(product_ids=list(product_ids))


def seller_buy_box_eligibility_set(*, seller_id: int, eligible: bool, note: str = "") -> bool:
    """Whether the seller may win buy boxes (finance's account health decides), and why not; its
    products' buy boxes are refreshed when that changes. Returns whether it changed."""
    with transaction.atomic():
        changed = (Seller.objects.filter(pk=seller_id).exclude(buy_box_eligible=eligible, buy_box_note=note[:300])
                   .update(buy_box_eligible=eligible, buy_box_note=note[:300]))
        if changed:
            product_ids = Offer.objects.filter(seller_id=seller_id).values_list("product_id", flat=True).distinct()
            buy_box_request_refresh(product_ids=list(product_ids))
    return bool(changed)


# --- products proposed by sellers, published when platform staff approve them -----------------------


def _check_proposer(*, actor, seller: Seller, perm: str) -> None:
    """A seller's member proposes (or edits a proposal) only for sellers where their role grants
    ``perm``; platform staff and the system (``actor`` None) may act for any seller."""
    if (actor is not None and selectors.seller_scope_for_user(actor) is not None
            and seller.pk not in selectors.seller_ids_with_permission(actor, perm)):
        raise PermissionDenied(_("Your role at this seller does not allow proposing products."))
    if not seller.is_active:
        raise PermissionDenied(_("A suspended seller cannot propose products."), code="seller_suspended")


def _proposal_fields(*, title: str, category, description: str) -> tuple[str, str]:
    title, description = (title or "").strip(), (description or "").strip()
    errors = {}
    if len(title) < 3:
        errors["title"] = [_("Give the product a title of at least 3 characters.")]
    elif len(title) > 200:
        errors["title"] = [_("At most 200 characters.")]
    if category is None or not category.is_active:
        errors["category"] = [_("Choose an active category.")]
    if errors:
        raise ApplicationError(_("The proposed product is incomplete."), fields=errors)
    return title, description


def product_propose(
    *, seller: Seller, actor, title: str, category, brand=None, description: str = "", note: str = "",
    attributes: dict[str, str] | None = None, sku: str = "", price=None, list_price=None,
    condition: str = Offer.Condition.NEW, handling_days: int = 1,
) -> ProductProposal:
    """Propose a product the catalogue lacks. It is created hidden and shown only once platform
    staff approve it. With ``sku`` and ``price``, the seller's first offer on it is listed too and
    sells from the approval on (shipped by the seller)."""
    _check_proposer(actor=actor, seller=seller, perm="marketplace.add_productproposal")
    title, description = _proposal_fields(title=title, category=category, description=description)
    if bool((sku or "").strip()) != (price not in (None, "")):
        raise ApplicationError(_("To list an offer with the product, give both its SKU and its price."),
                               fields={"sku" if price not in (None, "") else "price": [_("Required with the other.")]})
    with transaction.atomic():
        product = catalog_services.product_create(title=title, category=category, brand=brand,
                                                  description=description, attributes=attributes, is_active=False)
        offer = None
        if sku and sku.strip():
            offer = offer_create(seller=seller, product=product, sku=sku, price=price, list_price=list_price,
                                 condition=condition, handling_days=handling_days, actor=actor)
        proposal = ProductProposal.objects.create(
            seller=seller, product=product, offer=offer, note=(note or "").strip(),
            proposed_by=actor if getattr(actor, "pk", None) else None)
        events.record(marketplace_events.PRODUCT_PROPOSED, aggregate="product_proposal", aggregate_id=proposal.pk,
                      proposal_id=proposal.pk, product_id=product.pk, seller_id=seller.pk)
    return proposal


def _proposal_locked(proposal: ProductProposal) -> ProductProposal:
    locked = ProductProposal.objects.select_for_update().select_related("product", "seller").get(pk=proposal.pk)
    if locked.status != ProductProposal.Status.PENDING:
        raise Conflict(_("This proposal was decided already (%(status)s).") % {"status": locked.get_status_display()},
                       code="proposal_decided")
    return locked


def product_proposal_update(*, proposal: ProductProposal, actor, title: str, category, brand=None,
                            description: str = "", note: str = "") -> ProductProposal:
    """The seller corrects a proposal while it waits for review."""
    _check_proposer(actor=actor, seller=proposal.seller, perm="marketplace.change_productproposal")
    title, description = _proposal_fields(title=title, category=category, description=description)
    with transaction.atomic():
        locked = _proposal_locked(proposal)
        product = locked.product
        product.title, product.category, product.brand, product.description = title, category, brand, description
        catalog_services.product_save(product=product)
        locked.note = (note or "").strip()
        locked.save(update_fields=["note"])
    return locked


def _check_reviewer(actor) -> None:
    if not (getattr(actor, "is_superuser", False) or getattr(actor, "has_perm", lambda p: False)(
            "marketplace.review_productproposal")) or selectors.seller_scope_for_user(actor) is not None:
        raise PermissionDenied(_("Only platform staff review proposed products."))


def _proposal_decided(locked: ProductProposal, *, actor, status: str, message: str) -> ProductProposal:
    locked.status, locked.review_message = status, message
    locked.reviewed_by, locked.reviewed_at = actor, timezone.now()
    locked.save(update_fields=["status", "review_message", "reviewed_by", "reviewed_at"])
    from marketplace.tasks import send_proposal_email  # tasks import services

    outbox.enqueue(send_proposal_email, locked.pk)
    return locked


def product_proposal_approve(*, proposal: ProductProposal, actor, message: str = "") -> ProductProposal:
    """Publish the proposed product: it appears in the catalogue and the seller's offer on it sells."""
    _check_reviewer(actor)
    with transaction.atomic():
        locked = _proposal_locked(proposal)
        locked.product.is_active = True
        catalog_services.product_save(product=locked.product)
        buy_box_request_refresh(product_ids=[locked.product_id])
        return _proposal_decided(locked, actor=actor, status=ProductProposal.Status.APPROVED,
                                 message=(message or "").strip())


def product_proposal_reject(*, proposal: ProductProposal, actor, reason: str) -> ProductProposal:
    """Turn the proposal down, with the reason the seller is told; the product stays hidden."""
    _check_reviewer(actor)
    if not (reason or "").strip():
        raise ApplicationError(_("Say why the product is rejected."), fields={"review_message": [_("Required.")]})
    with transaction.atomic():
        locked = _proposal_locked(proposal)
        return _proposal_decided(locked, actor=actor, status=ProductProposal.Status.REJECTED, message=reason.strip())
