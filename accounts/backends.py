"""Signing in with e-mail and password: Django's ``ModelBackend`` (permissions included), reading
the signed-in user of each request with one prepared statement (:func:`accounts.selectors.user_by_pk`)."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from accounts import selectors


class EmailBackend(ModelBackend):
    def get_user(self, user_id):
        user = selectors.user_by_pk(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
