"""Cart and checkout API: the shopper's cart and its lines, its voucher, a quote for an address, and
placing the order with an Idempotency-Key (the same key always answers with the same order, 201 the
first time and 200 after, and never charges twice; clients make one key per order attempt, a UUID,
and resend it on retries).

Whose cart: a signed-in user's (session or token) is theirs; a guest's is the one remembered in
the session, like the pages. Line ids of any other cart are answered 404. Guests are identified
by the session cookie alone, so their writes need the CSRF token as well (``X-CSRFToken`` header
with the ``csrftoken`` cookie, which ``GET /api/v1/cart/`` sets), exactly as signed-in session
users' writes do; token clients send no cookie and need none.
"""

from __future__ import annotations

from django.middleware.csrf import get_token
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checkout import pricing, selectors, services
from checkout.api import serializers as s
from checkout.selectors import VOUCHER_SESSION_KEY
from core import idempotency, ratelimit
from core.api import (
    error_responses,
    represent,
)
from core.exceptions import ApplicationError, NotFound
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep
from orders import selectors as orders_selectors
from promotions import services as promotions_services

CART = "cart"
CHECKOUT = "checkout"

_CART_EXAMPLE = OpenApiExample(
    "A cart with one line whose price went up",
    response_only=True,
    status_codes=["200", "201"],
    value={
        "lines": [{
            "id": 41, "offer": 7, "product_slug": "steel-kettle", "product_title": "Steel kettle",
            "seller": "Kettle World", "quantity": 2, "unit_price": "24.00", "price_when_added": "22.50",
            "price_changed": True, "currency": "USD", "line_total": "48.00", "available": 12, "problem": None,
            "thumbnail": "/media/thumbnails/7-1.jpg",
        }],
        "item_count": 2, "sellable_count": 2, "subtotal": "48.00", "currency": "USD", "has_problems": False,
    },
)

_OUT_OF_STOCK_EXAMPLE = OpenApiExample(
    "Not enough stock",
    response_only=True,
    status_codes=["409"],
    value={"error": {"code": "only_n_left", "message": "Only 3 left in stock.",
                     "fields": {"quantity": ["Only 3 left in stock."]}}},
)

_BAD_INPUT_EXAMPLE = OpenApiExample(
    "Bad quantity",
    response_only=True,
    status_codes=["400"],
    value={"error": {"code": "invalid", "message": "Some fields are not valid.",
                     "fields": {"quantity": ["Ensure this value is less than or equal to 99."]}}},
)


class CartApiView(APIView):
    """Open to guests (their cart lives in the session); CSRF is checked for every cookie session."""

    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # DRF checks CSRF only for users it signed in by session; a guest's cart is reached by
        # the session cookie too, so a foreign site must not be able to change it either.
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request.user.is_authenticated:
            SessionAuthentication().enforce_csrf(request)

    def cart(self, request: Request, *, create: bool = False):
        return services.cart_for_session(session=request.session, user=request.user, create=create)

    def cart_response(self, request: Request, cart, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(represent(s.CartOutputSerializer, selectors.cart_view(cart=cart)), status=status_code)


class CartApi(CartApiView):
    @extend_schema(
        operation_id="cart_retrieve",
        tags=[CART],
        summary="The shopper's cart",
        description=(
            "Every line at today's price, with the price when it was added and any problem (no longer "
            "sold, out of stock, fewer left than wanted). Lines with a problem stay in the cart but are "
            "left out of `subtotal`. A guest without a cart gets an empty one (nothing is stored). Also "
            "sets the `csrftoken` cookie a guest's browser needs for writes."
        ),
        responses={200: s.CartOutputSerializer, **error_responses(429)},
        examples=[_CART_EXAMPLE],
    )
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            get_token(request)  # the cookie for the X-CSRFToken header of a guest's writes
        return self.cart_response(request, self.cart(request))


class CartLineListApi(CartApiView):
    @extend_schema(
        operation_id="cart_lines_create",
        tags=[CART],
        summary="Add an offer to the cart",
        description=(
            "Adds `quantity` units of the offer (to its line if the cart has one). Answers with the whole "
            "cart. An unknown or inactive offer, or a quantity that is not a whole number from 1 to 99, is a "
            "400 naming the field; more than the stock available now (counting what the cart already "
            "holds) is a 409 saying how many are left."
        ),
        request=s.CartLineAddInputSerializer,
        responses={
            201: OpenApiResponse(s.CartOutputSerializer, description="The cart with the offer added."),
            **error_responses(400, 403, 409, 415, 429),
        },
        examples=[
            OpenApiExample("Two of offer 7", request_only=True, value={"offer": 7, "quantity": 2}),
            _CART_EXAMPLE, _BAD_INPUT_EXAMPLE, _OUT_OF_STOCK_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        data = s.CartLineAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = self.cart(request, create=True)
        services.cart_add(cart=cart, offer_id=data.validated_data["offer"], quantity=data.validated_data["quantity"])
        return self.cart_response(request, cart, status_code=status.HTTP_201_CREATED)


class CartLineDetailApi(CartApiView):
    def _own_cart(self, request: Request):
        cart = self.cart(request)
        if cart is None:
            raise NotFound(_("That item is not in your cart."))
        return cart

    @extend_schema(
        operation_id="cart_lines_partial_update",
        tags=[CART],
        summary="Change the quantity of a line",
        description=(
            "Sets the line's quantity (1 to 99; remove a line with DELETE). Raising it is checked against "
            "the stock available now (409). A line of any other cart is a 404."
        ),
        request=s.CartLineUpdateInputSerializer,
        responses={
            200: OpenApiResponse(s.CartOutputSerializer, description="The cart after the change."),
            **error_responses(400, 403, 404, 409, 415, 429),
        },
        examples=[_CART_EXAMPLE, _BAD_INPUT_EXAMPLE, _OUT_OF_STOCK_EXAMPLE],
    )
    def patch(self, request: Request, line_id: int) -> Response:
        data = s.CartLineUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = self._own_cart(request)
        services.cart_line_update(cart=cart, line_id=line_id, quantity=data.validated_data["quantity"])
        return self.cart_response(request, cart)

    @extend_schema(
        operation_id="cart_lines_destroy",
        tags=[CART],
        summary="Remove a line from the cart",
        description="A line of any other cart is a 404.",
        responses={204: OpenApiResponse(description="Removed."), **error_responses(403, 404, 429)},
    )
    def delete(self, request: Request, line_id: int) -> Response:
        services.cart_line_remove(cart=self._own_cart(request), line_id=line_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartGiftCardListApi(CartApiView):
    @extend_schema(
        operation_id="cart_gift_cards_create", tags=[CART], summary="Put a gift card in the cart",
        description=(
            "One card for one recipient, e-mailed with its code on `deliver_on` once the order is paid. An "
            "amount outside the shop's choices and limits, a day in the past or over a year ahead, or text too "
            "long is a 400 naming the field; more cards than a cart may hold, or worth more together, a 409. "
            "An order with gift cards is paid by card (not with store credit or another gift card)."
        ),
        request=s.CartGiftCardAddInputSerializer,
        responses={201: OpenApiResponse(s.CartOutputSerializer, description="The cart with the gift card."),
                   **error_responses(400, 403, 409, 415, 429)},
        examples=[OpenApiExample("A card for Ann", request_only=True, value={
            "amount": "50.00", "recipient_email": "ann@example.com", "message": "Happy birthday!"})],
    )
    def post(self, request: Request) -> Response:
        data = s.CartGiftCardAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = self.cart(request, create=True)
        services.cart_gift_card_add(cart=cart, **data.validated_data)
        return self.cart_response(request, cart, status_code=status.HTTP_201_CREATED)


class CartGiftCardDetailApi(CartApiView):
    @extend_schema(
        operation_id="cart_gift_cards_destroy", tags=[CART], summary="Take a gift card out of the cart",
        description="A gift card of any other cart is a 404.",
        responses={204: OpenApiResponse(description="Removed."), **error_responses(403, 404, 429)},
    )
    def delete(self, request: Request, card_id: int) -> Response:
        cart = self.cart(request)
        if cart is None:
            raise NotFound(_("That gift card is not in your cart."))
        services.cart_gift_card_remove(cart=cart, gift_card_id=card_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartVoucherApi(CartApiView):
    """The voucher of the shopper's cart, kept in the session like the cart page's form does; the
    quote and place-order endpoints use it when their body names no ``voucher_code``."""

    throttle_scope = "voucher"

    @extend_schema(
        operation_id="cart_voucher_apply", tags=[CART], request=s.CartVoucherInputSerializer,
        summary="Apply a voucher code to the cart",
        description=(
            "Checks the code against the cart as it is now. When it applies, it is kept for the cart and the "
            "answer shows its discount; when it does not, a 400 with code `voucher` says exactly why "
            "(unknown, expired, not started, minimum spend not met, limit used, not valid for these items) "
            "and nothing is kept. An empty cart is a 400 as well."
        ),
        responses={200: s.CartVoucherOutputSerializer, **error_responses(400, 403, 415, 429)},
        examples=[OpenApiExample(
            "Minimum not met", response_only=True, status_codes=["400"],
            value={"error": {"code": "voucher", "message": "Spend $12.50 more to use this code.",
                             "fields": {"code": ["Spend $12.50 more to use this code."]}}},
        )],
    )
    def post(self, request: Request) -> Response:
        data = s.CartVoucherInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = promotions_services.normalize_code(data.validated_data["code"])
        if not code:
            raise ApplicationError(_("Enter a voucher code."), code="voucher", fields={"code": [_("Enter a code.")]})
        lines, context = selectors.cart_pricing_input(buyer=request.strategy, user=request.user,
                                                      cart=self.cart(request), voucher_code=code)
        if not lines:
            raise ApplicationError(_("Your cart is empty."), code="empty_cart")
        priced = pricing.cart_price(lines=lines, context=context)
        if priced.voucher is None:
            reason = priced.voucher_error or _("This code does not apply to your cart.")
            raise ApplicationError(reason, code="voucher", fields={"code": [reason]})
        request.session[VOUCHER_SESSION_KEY] = code
        return Response(s.CartVoucherOutputSerializer({
            "code": code, "label": priced.voucher.label, "amount": priced.voucher.amount.amount,
            "subtotal": priced.subtotal.amount, "discount": priced.discount.amount, "currency": priced.currency,
        }).data)

    @extend_schema(operation_id="cart_voucher_remove", tags=[CART], summary="Remove the cart's voucher code",
                   request=None, responses={204: None, **error_responses(403, 429)})
    def delete(self, request: Request) -> Response:
        request.session.pop(VOUCHER_SESSION_KEY, None)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- checkout ------------------------------------------------------------------------------------


def _voucher_code(request: Request, data: dict) -> str:
    """The body's voucher code, else the one applied to the cart (kept in the session)."""
    if "voucher_code" in data:
        return data["voucher_code"]
    return str(request.session.get(VOUCHER_SESSION_KEY) or "")


class QuoteApi(CartApiView):
    throttle_field_scopes = {"voucher_code": "voucher"}  # a quote that checks a code counts as a voucher check

    @extend_schema(operation_id="checkout_quote", tags=[CHECKOUT], request=s.QuoteInputSerializer,
                   summary="Price your cart for a destination: packages, shipping options, tax, total",
                   responses={200: s.QuoteOutputSerializer, **error_responses(400, 403, 415, 429)})
    def post(self, request: Request) -> Response:
        data = s.QuoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        lines, context = selectors.cart_pricing_input(
            buyer=request.strategy, user=request.user,
            cart=services.cart_for_session(session=request.session, user=request.user),
            country=v["country"], region=v["region"], shipping_choices=v["shipping_choices"],
            voucher_code=_voucher_code(request, v),
        )
        priced = pricing.cart_price(lines=lines, context=context)
        savings = pricing.member_savings(lines=lines, context=context, priced=priced,
                                         preview=request.strategy.preview_benefits)
        return Response(s.QuoteOutputSerializer(priced, context={"member_savings": savings}).data)


class PlaceOrderApi(CartApiView):
    """Guests with a session cookie send the CSRF token, as for the cart (see CartApiView)."""

    throttle_scope = "place_order"
    throttle_field_scopes = {"voucher_code": "voucher"}

    @extend_schema(
        operation_id="checkout_place_order", tags=[CHECKOUT], request=s.PlaceOrderInputSerializer,
        summary="Place the order for your cart (Idempotency-Key header required)",
        description=(
            "201: placed and paid. 200: the same request again (same key, same body) finds the same order. "
            "202: placed, but the customer must confirm the payment with the provider's SDK (`payment.client_secret`: "
            "an intent to confirm, or 3-D Secure); send the same request again afterwards, or wait for the e-mail. "
            "An unpaid order is never answered as 201/200 with `payment: null`. 402: declined (no order is left; "
            "the cart is kept). 409: the payment is being processed by another request, the total changed, or "
            "stock/deals ran out. 422 `idempotency_key_reused`: the key was used with another body. 503: the payment "
            "provider could not be reached; the order waits, and the same request (same key) tries the payment "
            "again. Keys are scoped to their owner (your account, or your guest cart): another client's key never "
            "finds your order."),
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
                                     description="One key per order attempt (e.g. a UUID); resend it on retry.")],
        responses={201: s.PlacedOrderOutputSerializer, 200: s.PlacedOrderOutputSerializer,
                   202: s.PlacedOrderOutputSerializer, **error_responses(400, 402, 403, 409, 415, 422, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        key = idempotency.checked_key(request.headers.get("Idempotency-Key"))
        data = s.PlaceOrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cart = services.cart_for_session(session=request.session, user=request.user)
        owner = services.idempotency_owner(user=request.user, cart=cart)
        if cart is None or not owner:
            raise ApplicationError(_("Your cart is empty."), code="empty_cart")
        if v.get("gift_card_code"):  # codes tried count against the gift card limit, as on the pages
            for caller in {ratelimit.caller_key(request), ratelimit.client_key(request)}:
                verdict = ratelimit.hit("gift_card", caller)
                if not verdict.allowed:
                    raise Throttled(wait=verdict.retry_after)
        placed = services.order_place(
            cart=cart, user=request.user, email=v["email"], shipping_address=v["shipping_address"],
            billing_address=v.get("billing_address"), shipping_choices=v["shipping_choices"],
            payment_method=v.get("payment_method", ""), idempotency_key=key, expected_total=v.get("expected_total"),
            voucher_code=_voucher_code(request, v), digest=services.request_digest(body=v), buyer=request.strategy,
            use_store_credit=v.get("use_store_credit", False), gift_card_code=v.get("gift_card_code", ""),
        )
        if placed.created:
            request.session.pop(VOUCHER_SESSION_KEY, None)  # used by this order
        order = orders_selectors.order_answer(order=placed.order)
        if placed.needs_action:
            code = status.HTTP_202_ACCEPTED
        else:
            code = status.HTTP_201_CREATED if placed.created else status.HTTP_200_OK
        return Response(represent(s.PlacedOrderOutputSerializer, order, context={"placed": placed}), status=code)
