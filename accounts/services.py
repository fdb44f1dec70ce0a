"""Writes for accounts: users, their sign-up and profile, staff access and the address book."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from accounts import addresses, selectors
from accounts import events as account_events
from accounts.exceptions import AccountLockedOut, InvalidCredentials, lockout_message
from accounts.models import Address, User
from core import events, outbox
from core.exceptions import ApplicationError

ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "postal_code", "region", "country", "phone")
MAX_ADDRESSES = 50  # in one customer's address book


def user_create(*, email: str, password: str | None = None, full_name: str = "", is_staff: bool = False) -> User:
    return User.objects.create_user(email=email, password=password, full_name=full_name, is_staff=is_staff)


def _clean_email(email: str, *, field: str = "email") -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        message = _("Enter a valid e-mail address.")
        raise ApplicationError(message, fields={field: [message]}) from None
    return User.objects.normalize_email(email).lower()


def _email_taken_error(field: str = "email") -> ApplicationError:
    message = _("An account with this e-mail address already exists.")
    return ApplicationError(message, code="email_taken", fields={field: [message]})


def user_sign_up(*, email: str, full_name: str, password: str, visitor_id: str = "") -> User:
    """A new shopper account. The e-mail is unique in any letter case; the password must pass
    the configured validators. Raises :class:`ApplicationError` with ``fields`` otherwise.
    ``visitor_id``: the browser's anonymous id, recorded with the sign-up event (insights)."""
    email = _clean_email(email)
    full_name = (full_name or "").strip()[:150]
    try:
        password_validation.validate_password(password, user=User(email=email, full_name=full_name))
    except ValidationError as exc:
        raise ApplicationError(exc.messages[0], fields={"password": list(exc.messages)}) from None
    if User.objects.filter(email__iexact=email).exists():
        raise _email_taken_error()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name)
            events.record(account_events.SIGNED_UP, aggregate=account_events.AGGREGATE, aggregate_id=user.pk,
                          user_id=user.pk, visitor_id=str(visitor_id or "")[:36])
    except IntegrityError:  # a concurrent sign-up with the same e-mail won the race
        raise _email_taken_error() from None
    return user


def user_update_profile(*, user: User, full_name: str) -> User:
    full_name = (full_name or "").strip()[:150]
    if full_name != user.full_name:
        with transaction.atomic():
            user.full_name = full_name
            user.save(update_fields=["full_name"])
    return user


def user_change_email(*, user: User, new_email: str, password: str) -> User:
    """Move the account to ``new_email`` after checking the user's current password."""
    if not user.check_password(password or ""):
        message = _("Your password was not correct.")
        raise ApplicationError(message, code="wrong_password", fields={"current_password": [message]})
    new_email = _clean_email(new_email)
    if new_email == user.email:
        return user
    if User.objects.filter(email__iexact=new_email).exclude(pk=user.pk).exists():
        raise _email_taken_error()
    try:
        with transaction.atomic():
            user.email = new_email
            user.save(update_fields=["email"])
    except IntegrityError:
        raise _email_taken_error() from None
    return user


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User:
    """The active user with these credentials, checked through every authentication backend
    (django-axes counts failures and refuses a locked-out e-mail + IP pair)."""
    user = authenticate(request, username=(email or "").strip(), password=password or "")
    if getattr(request, "axes_locked_out", False):
        raise AccountLockedOut(lockout_message())
    if user is None or not user.is_active:
        raise InvalidCredentials(_("That e-mail address and password do not match an account."))
    return user


def user_api_token_ensure(*, user: User) -> Token:
    """The user's API token, created on first use; an expired one is replaced by a fresh one
    (its key stops working). A valid token is returned as it is, so every client of the user
    keeps working until it expires or the password changes."""
    with transaction.atomic():
        token = Token.objects.select_for_update().filter(user=user).first()
        if token is not None and selectors.api_token_expired(token=token):
            token.delete()
            token = None
        if token is None:
            try:
                with transaction.atomic():
                    token = Token.objects.create(user=user)
            except IntegrityError:  # created by a concurrent call
                token = Token.objects.get(user=user)
    return token


def user_api_tokens_revoke(*, user: User) -> int:
    """Delete every API token of ``user``: a client holding one gets 401 and must ask for a new
    one with the (new) password. Returns how many were deleted."""
    deleted, _by_model = Token.objects.filter(user_id=user.pk).delete()
    return deleted


def user_password_save(*, user: User) -> User:
    """Store the password just set on ``user`` (``set_password`` or ``set_unusable_password``) and
    revoke the user's API tokens in the same transaction. Every way a password changes goes
    through here: the change and reset pages, admin's set-password page (``accounts.forms``)."""
    with transaction.atomic():
        user.save(update_fields=["password"])
        user_api_tokens_revoke(user=user)
    return user


def user_password_set(*, user: User, password: str) -> User:
    """Give ``user`` a new password (already validated by the caller's form) and revoke their API tokens."""
    user.set_password(password)
    return user_password_save(user=user)


def password_reset_request(*, email: str) -> None:
    """E-mail a reset link to the active account with this e-mail, if there is one.

    Says nothing about whether it exists (callers show the same answer either way); the e-mail
    is sent by a Celery task after commit, so the request never waits on the mail server. The
    link is built on ``SITE_URL``, never on the request's Host header (which a client chooses).
    """
    from accounts.tasks import send_password_reset_email  # the task module imports this one

    email = (email or "").strip()
    if not email:
        return
    with transaction.atomic():
        user_ids = [
            u.pk
            for u in User.objects.filter(email__iexact=email, is_active=True).only("id", "password")
            if u.has_usable_password()
        ]
        for user_id in user_ids:
            outbox.enqueue(send_password_reset_email, user_id)


# --- staff -------------------------------------------------------------------------------


def staff_group_ensure(*, name: str, permissions: list[tuple[str, str]]) -> Group:
    """A group holding exactly these ``(app_label, codename)`` permissions."""
    with transaction.atomic():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = Q()
        for app_label, codename in permissions:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted) if permissions else [])
    return group


def user_grant_staff_group(*, user: User, group: Group) -> User:
    """Let ``user`` sign in to admin with ``group``'s permissions."""
    with transaction.atomic():
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
    return user


def user_revoke_staff_group(*, user: User, group_name: str) -> bool:
    """Take the group ``group_name`` from ``user`` and, unless something else makes them staff
    (superuser, another group, permissions of their own), admin access too. Returns whether
    ``is_staff`` was turned off. The mirror of :func:`user_grant_staff_group`."""
    with transaction.atomic():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            user.groups.remove(group)
        if not user.is_staff or user.is_superuser or user.groups.exists() or user.user_permissions.exists():
            return False
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    return True


def group_members_sync(*, group: Group, members: Iterable[int], among: Iterable[int]) -> None:
    """Of the users ``among`` (ids), make exactly ``members`` belong to ``group``; users outside
    ``among`` keep or lack the group as they do. In a few queries, whatever the number of users."""
    wanted, among = set(members), set(among)
    through = User.groups.through
    with transaction.atomic():
        have = set(through.objects.filter(group=group, user_id__in=among).values_list("user_id", flat=True))
        through.objects.bulk_create(
            [through(user_id=user_id, group_id=group.pk) for user_id in sorted(wanted - have)],
            ignore_conflicts=True,
        )
        through.objects.filter(group=group, user_id__in=sorted(have - wanted)).delete()


def superuser_ensure(*, email: str, password: str) -> tuple[User, bool]:
    """The administrator with ``email``, created with ``password`` when missing."""
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    return User.objects.create_superuser(email=email, password=password), True


# --- address book ------------------------------------------------------------------------


def _address_validate(address: Address) -> None:
    fields: dict[str, list] = {}
    try:
        address.full_clean(exclude=["user"], validate_constraints=False)
    except ValidationError as exc:
        fields = {name: list(messages) for name, messages in exc.message_dict.items()}
    for name, problem in addresses.address_problems(country=address.country, postal_code=address.postal_code,
                                                     phone=address.phone).items():
        fields.setdefault(name, []).append(problem)
    if fields:
        raise ApplicationError(_("Some fields are not valid."), fields=fields)


def _lock_user(user: User) -> None:
    """Serialise changes to one user's address book (the default flag moves between rows)."""
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()


def _clear_default(user: User, *, keep_id: int | None = None) -> None:
    Address.objects.filter(user=user, is_default=True).exclude(pk=keep_id).update(is_default=False)


def address_create(
    *,
    user: User,
    full_name: str,
    line1: str,
    city: str,
    country: str,
    line2: str = "",
    postal_code: str = "",
    region: str = "",
    phone: str = "",
    is_default: bool = False,
) -> Address:
    """Add an address to ``user``'s book (at most ``MAX_ADDRESSES``). The first address becomes the default."""
    address = Address(
        user=user,
        full_name=(full_name or "").strip(),
        line1=(line1 or "").strip(),
        line2=(line2 or "").strip(),
        city=(city or "").strip(),
        postal_code=(postal_code or "").strip(),
        region=(region or "").strip(),
        country=(country or "").strip().upper(),
        phone=(phone or "").strip(),
    )
    _address_validate(address)
    with transaction.atomic():
        _lock_user(user)
        if Address.objects.filter(user=user).count() >= MAX_ADDRESSES:
            raise ApplicationError(_("Your address book is full (%(max)s addresses): remove one you no longer use "
                                     "first.") % {"max": MAX_ADDRESSES}, code="address_book_full")
        has_default = Address.objects.filter(user=user, is_default=True).exists()
        address.is_default = bool(is_default) or not has_default
        if address.is_default and has_default:
            _clear_default(user)
        address.save()
    return address


def address_update(*, address: Address, **changes) -> Address:
    """Change some of an address's fields (``ADDRESS_FIELDS`` and ``is_default``)."""
    unknown = set(changes) - set(ADDRESS_FIELDS) - {"is_default"}
    if unknown:
        raise ApplicationError(_("Unknown address fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    make_default = changes.pop("is_default", None)
    for name, value in changes.items():
        value = (value or "").strip()
        setattr(address, name, value.upper() if name == "country" else value)
    _address_validate(address)
    with transaction.atomic():
        _lock_user(address.user)
        if make_default:
            _clear_default(address.user, keep_id=address.pk)
            address.is_default = True
        elif make_default is not None:
            address.is_default = False
        address.save()
    return address


def address_set_default(*, address: Address) -> Address:
    """Make ``address`` its user's one default address."""
    with transaction.atomic():
        _lock_user(address.user)
        _clear_default(address.user, keep_id=address.pk)
        if not address.is_default:
            address.is_default = True
            address.save(update_fields=["is_default", "updated_at"])
    return address


def address_delete(*, address: Address) -> None:
    """Remove an address; when it was the default, the newest remaining one takes its place."""
    user = address.user
    with transaction.atomic():
        _lock_user(user)
        was_default = Address.objects.filter(pk=address.pk, is_default=True).exists()
        address.delete()
        if was_default:
            successor = Address.objects.filter(user=user).order_by("-created_at", "-id").first()
            if successor is not None:
                successor.is_default = True
                successor.save(update_fields=["is_default", "updated_at"])


def password_reset_email_send(*, user_id: int) -> bool:
    """Send the reset link (text and HTML) to this user; ``False`` when the user cannot reset.

    The link carries Django's token, which stops working once the password changes, the user
    signs in, or ``PASSWORD_RESET_TIMEOUT`` passes. Its scheme and host are ``SITE_URL``'s.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {
        "user": user,
        "reset_url": settings.SITE_URL.rstrip("/") + path,
        "shop_name": settings.SHOP_NAME,
        "valid_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
    }
    subject = " ".join(render_to_string("accounts/email/password_reset_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("accounts/email/password_reset.txt", context),
        to=[user.email],
    )
    message.attach_alternative(render_to_string("accounts/email/password_reset.html", context), "text/html")
    message.send()
    return True


CLOSED_EMAIL_DOMAIN = "closed.invalid"  # a closed account's e-mail: closed-<id>@closed.invalid (never delivered)


def account_close(*, user: User, password: str) -> User:
    """Close ``user``'s account at their request, once their password is confirmed: the e-mail, name,
    password, address book and API tokens are gone in one transaction and the account can never sign
    in again (the row stays, inactive, so orders and invoices the law keeps still point somewhere).
    ``accounts.account_closed`` tells the other contexts to forget the user too. Whether there is
    business still open (orders on their way, a membership that renews, store credit) is for the
    caller to decide first (``storefront.personal_data``). Staff accounts are closed by an
    administrator, not here."""
    if not user.is_active or user.email.endswith(f"@{CLOSED_EMAIL_DOMAIN}"):
        raise ApplicationError(_("This account is closed already."), code="account_closed")
    if user.is_staff or user.is_superuser:
        raise ApplicationError(_("A staff account is closed by an administrator."), code="staff_account")
    if not password or not user.check_password(password):
        raise ApplicationError(_("That password is not right."), code="wrong_password",
                               fields={"password": [_("That password is not right.")]})
    with transaction.atomic():
        _lock_user(user)
        if not User.objects.filter(pk=user.pk, is_active=True).exists():  # closed meanwhile (two tabs at once)
            raise ApplicationError(_("This account is closed already."), code="account_closed")
        Address.objects.filter(user=user).delete()
        user_api_tokens_revoke(user=user)
        user.email = f"closed-{user.pk}@{CLOSED_EMAIL_DOMAIN}"
        user.full_name = ""
        user.is_active = False
        user.set_unusable_password()  # also ends every other signed-in session (their auth hash changes)
        user.save(update_fields=["email", "full_name", "is_active", "password"])
        events.record(account_events.ACCOUNT_CLOSED, aggregate=account_events.AGGREGATE, aggregate_id=user.pk,
                      user_id=user.pk)
    return user
