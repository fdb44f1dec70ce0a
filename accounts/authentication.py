"""API tokens that expire: DRF's ``Authorization: Token <key>`` scheme, but a token works only for
``API_TOKEN_TTL_DAYS`` after it was issued, and one that was revoked (the password changed or
was reset) or has expired is a 401 that says what to do, in the API's error shape."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class TokenRefused(exceptions.APIException):
    """A token that does not (or no longer) open the API. Always 401 with ``WWW-Authenticate``:
    DRF would answer 403 for its own AuthenticationFailed because session authentication comes
    first in the settings, and a client must learn that it needs a new token, not more rights."""

    status_code = 401
    default_detail = _("Invalid token.")
    default_code = "invalid_token"
    auth_header = "Token"  # sent as WWW-Authenticate by DRF's exception handler


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed as exc:  # a malformed header: a 401 as well
            raise TokenRefused(exc.detail) from None

    def authenticate_credentials(self, key: str):
        # Imported here: DRF loads this class while its views module is imported, which may be
        # before the app registry is ready (selectors import the Token model).
        from accounts import selectors

        token = selectors.api_token_get(key=key)
        if token is None:
            raise TokenRefused(_("This API token is not valid (it may have been replaced after a password change). "
                                 "Get a new one from POST /api/v1/auth/token/."))
        if not token.user.is_active:
            raise TokenRefused(_("This account is disabled."), code="inactive_user")
        if selectors.api_token_expired(token=token):
            raise TokenRefused(_("This API token has expired. Get a new one from POST /api/v1/auth/token/."),
                               code="token_expired")
        return token.user, token
