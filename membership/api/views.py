"""Membership API: the plans (public), and the caller's own membership: view, join, cancel,
resume, change the card or the billing interval. Only ever the caller's own subscription."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    error_responses,
)
from core.exceptions import ApplicationError, NotFound
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep
from membership import selectors, services
from membership.api import serializers as s

TAG = "membership"


def _out(user) -> dict:
    subscription = selectors.subscription_latest(user=user)
    return s.SubscriptionOutputSerializer(subscription).data


class PlanListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="membership_plans_list", tags=[TAG], summary="Membership plans on sale",
                   responses={200: s.PlanOutputSerializer(many=True), **error_responses(429)})
    def get(self, request: Request) -> Response:
        return Response(s.PlanOutputSerializer(selectors.plan_list(), many=True).data)


class MembershipApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    throttle_scope = "membership"  # joining (POST) counts; reading does not

    @extend_schema(
        operation_id="membership_retrieve", tags=[TAG], summary="Your membership",
        description="The live membership, else the one that ended last (status `expired`); 404 if you never joined.",
        responses={200: s.SubscriptionOutputSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        if selectors.subscription_latest(user=request.user) is None:
            raise NotFound(_("You are not a member."), code="not_a_member")
        return Response(_out(request.user))

    @extend_schema(
        operation_id="membership_join", tags=[TAG], request=s.JoinInputSerializer,
        summary="Join a plan",
        description="A first membership of a plan with trial days starts a free trial (the card is checked, not "
                    "charged); otherwise the first period is charged now. 409 if you are already a member or the "
                    "card already had a free trial (`trial_used`), 402 if the card is declined (nothing is created). "
                    "402 `requires_action` when the bank asks the customer to confirm the first charge: the error "
                    "carries `client_secret` for Stripe's SDK (handleNextAction); send the same request with the "
                    "same `Idempotency-Key` afterwards to finish. Send the same `Idempotency-Key` on a retry so a "
                    "repeated request never charges twice.",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                     description="One key per join attempt (e.g. a UUID), at most 80 characters.")],
        examples=[OpenApiExample("Monthly, test card", request_only=True,
                                 value={"plan": "bazaar-plus", "interval": "month",
                                        "payment_method": "4242424242424242"})],
        responses={201: s.SubscriptionOutputSerializer, **error_responses(400, 401, 402, 403, 409, 415, 429, 503)},
    )
    def post(self, request: Request) -> Response:
        data = s.JoinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        plan = selectors.plan_get(slug=v["plan"])
        if plan is None:
            raise ApplicationError(_("No such plan on sale."), fields={"plan": [_("No such plan on sale.")]})
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 80:
            raise ApplicationError(_("The Idempotency-Key header is at most 80 characters."),
                                   fields={"Idempotency-Key": [_("At most 80 characters.")]})
        services.membership_join(user=request.user, plan=plan, interval=v["interval"],
                                 payment_method=v["payment_method"], join_key=key or None,
                                 skip_trial=v["skip_trial"])
        return Response(_out(request.user), status=status.HTTP_201_CREATED)


class CancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="membership_cancel", tags=[TAG], request=None, summary="Cancel your membership",
        description="Benefits last until the end of the period paid for (or the trial); nothing more is charged. "
                    "A membership whose payment is overdue ends at once. 409 if it is already cancelled.",
        responses={200: s.SubscriptionOutputSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        services.membership_cancel(user=request.user)
        return Response(_out(request.user))


class ResumeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="membership_resume", tags=[TAG], request=None, summary="Resume a cancelled membership",
        description="Before the end of the period only; 409 if it is not cancelled or has ended.",
        responses={200: s.SubscriptionOutputSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request) -> Response:
        services.membership_resume(user=request.user)
        return Response(_out(request.user))


class CardApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    throttle_scope = "membership"

    @extend_schema(
        operation_id="membership_card_update", tags=[TAG], request=s.CardInputSerializer,
        summary="Save a new card for renewals",
        description="The card is checked first (402 if declined). A payment that is overdue is retried with it.",
        responses={200: s.SubscriptionOutputSerializer, **error_responses(400, 401, 402, 403, 404, 409, 415, 429,
                                                                          503)},
    )
    def post(self, request: Request) -> Response:
        data = s.CardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()[:80]
        services.membership_update_card(user=request.user, payment_method=data.validated_data["payment_method"],
                                         card_key=key or None)
        return Response(_out(request.user))


class IntervalApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="membership_interval_update", tags=[TAG], request=s.IntervalInputSerializer,
        summary="Bill monthly or yearly from the next renewal",
        responses={200: s.SubscriptionOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        data = s.IntervalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.membership_change_interval(user=request.user, interval=data.validated_data["interval"])
        return Response(_out(request.user))
