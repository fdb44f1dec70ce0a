"""Accounts API serializers: input and output kept apart, as everywhere in the API."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import COUNTRY_CHOICES, Address, User


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "email", "full_name", "date_joined")
        read_only_fields = fields


class UserUpdateInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, help_text="A new e-mail address to sign in with.")
    current_password = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Your current password; required when `email` changes.",
    )


class AddressOutputSerializer(serializers.ModelSerializer):
    country_name = serializers.CharField(source="get_country_display", read_only=True)

    class Meta:
        model = Address
        fields = (
            "id", "full_name", "line1", "line2", "city", "postal_code", "region", "country", "country_name",
            "phone", "is_default", "created_at", "updated_at",
        )
        read_only_fields = fields


class AddressInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20, help_text="Required: parcels and checkout need it.")
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    country = serializers.ChoiceField(choices=COUNTRY_CHOICES, help_text="ISO 3166-1 alpha-2 code, e.g. `US`.")
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    is_default = serializers.BooleanField(
        required=False, help_text="Make this the default address (the previous default stops being one)."
    )


class TokenInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expires_at = serializers.DateTimeField(
        help_text="When the token stops working (then 401 `token_expired`: ask for a new one here)."
    )
