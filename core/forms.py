"""Form helpers shared by pages and admin."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from core.exceptions import ApplicationError


def add_service_errors(form: forms.BaseForm, exc: ApplicationError | ValidationError) -> None:
    """Show a service's refusal on ``form``: on its fields when it names them, else on top."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
        return
    placed = False
    for field, errors in (exc.fields or {}).items():
        if field in form.fields:
            form.add_error(field, errors)
            placed = True
    if not placed:
        form.add_error(None, exc.message)
