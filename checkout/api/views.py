"""Cart API: the shopper's cart and its lines.

Whose cart: a signed-in user's (session or token) is theirs; a guest's is the one remembered in
the session, like the pages. Line ids of any other cart are answered 404. Guests are identified
by the session cookie alone, so their writes need the CSRF token as well (``X-CSRFToken`` header
with the ``csrftoken`` cookie, which ``GET /api/v1/cart/`` sets), exactly as signed-in session
users' writes do; token clients send no cookie and need none.
"""

from __future__ import annotations

from django.middleware.csrf import get_token
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checkout import pricing, selectors, services
from checkout.api import serializers as s
from checkout.flow import VOUCHER_SESSION_KEY
from core.api import error_responses
from core.exceptions import ApplicationError, NotFound
from promotions import services as promotions_services

CART = "cart"

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
        return Response(s.CartOutputSerializer(selectors.cart_view(cart=cart)).data, status=status_code)


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


class CartVoucherInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text=gettext_lazy("The voucher code (any case)."))


class CartVoucherOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField(help_text=gettext_lazy("The discount line as the cart shows it."))
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, help_text=gettext_lazy("What it takes off."))
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=gettext_lazy("Every discount of the cart, this voucher's included.")
    )
    currency = serializers.CharField()


class CartVoucherApi(CartApiView):
    """The voucher of the shopper's cart, kept in the session like the cart page's form does; the
    quote and place-order endpoints use it when their body names no ``voucher_code``."""

    throttle_scope = "voucher"

    @extend_schema(
        operation_id="cart_voucher_apply", tags=[CART], request=CartVoucherInputSerializer,
        summary="Apply a voucher code to the cart",
        description=(
            "Checks the code against the cart as it is now. When it applies, it is kept for the cart and the "
            "answer shows its discount; when it does not, a 400 with code `voucher` says exactly why "
            "(unknown, expired, not started, minimum spend not met, limit used, not valid for these items) "
            "and nothing is kept. An empty cart is a 400 as well."
        ),
        responses={200: CartVoucherOutputSerializer, **error_responses(400, 403, 415, 429)},
        examples=[OpenApiExample(
            "Minimum not met", response_only=True, status_codes=["400"],
            value={"error": {"code": "voucher", "message": "Spend $12.50 more to use this code.",
                             "fields": {"code": ["Spend $12.50 more to use this code."]}}},
        )],
    )
    def post(self, request: Request) -> Response:
        data = CartVoucherInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = promotions_services.normalize_code(data.validated_data["code"])
        if not code:
            raise ApplicationError(_("Enter a voucher code."), code="voucher", fields={"code": [_("Enter a code.")]})
        lines, context = selectors.cart_pricing_input(buyer=request.strategy, user=request.user,
                                                      cart=self.cart(request), voucher_code=code)
        if not lines:
            raise ApplicationError(_("Your cart is empty."), code="empty_cart")
        priced = pricing.price_cart(lines=lines, context=context)
        if priced.voucher is None:
            reason = priced.voucher_error or _("This code does not apply to your cart.")
            raise ApplicationError(reason, code="voucher", fields={"code": [reason]})
        request.session[VOUCHER_SESSION_KEY] = code
        return Response(CartVoucherOutputSerializer({
            "code": code, "label": priced.voucher.label, "amount": priced.voucher.amount.amount,
            "subtotal": priced.subtotal.amount, "discount": priced.discount.amount, "currency": priced.currency,
        }).data)

    @extend_schema(operation_id="cart_voucher_remove", tags=[CART], summary="Remove the cart's voucher code",
                   request=None, responses={204: None, **error_responses(403, 429)})
    def delete(self, request: Request) -> Response:
        request.session.pop(VOUCHER_SESSION_KEY, None)
        return Response(status=status.HTTP_204_NO_CONTENT)
