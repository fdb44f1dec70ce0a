"""core.api.represent: a serializer reused per thread answers exactly as a fresh one, and keeps no
caller's context (a request, a user) past the call."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from rest_framework import serializers

from core import api


class _Box(serializers.Serializer):
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=8, decimal_places=2)
    viewer = serializers.SerializerMethodField()
    inner = serializers.SerializerMethodField()

    def get_viewer(self, obj) -> str:
        return self.context.get("viewer", "nobody")

    def get_inner(self, obj):
        # The same class inside its own answer: a second serializer, never the one in use.
        return api.represent(_Box, obj.inner, context={"viewer": "inner"}) if obj.inner else None


def _box(name, price, inner=None):
    return SimpleNamespace(name=name, price=price, inner=inner)


def test_the_answer_is_what_a_fresh_serializer_gives():
    box = _box("kettle", "12.5", inner=_box("lid", "1"))
    for viewer in ("ada", "bob"):
        assert api.represent(_Box, box, context={"viewer": viewer}) == _Box(box, context={"viewer": viewer}).data
    assert api.represent(_Box, box)["viewer"] == "nobody"
    assert api.represent(_Box, box, context={"viewer": "ada"})["inner"]["viewer"] == "inner"


def test_one_serializer_per_thread_is_kept_and_holds_no_context_afterwards():
    api.represent(_Box, _box("a", "1"), context={"viewer": "ada"})
    kept = api._idle.serializers[_Box]
    assert api.represent(_Box, _box("b", "2"))["viewer"] == "nobody"  # ada's context is gone
    assert api._idle.serializers[_Box] is kept
    assert kept._context == {}
    seen = {}

    def other_thread():
        api.represent(_Box, _box("c", "3"))
        seen["serializer"] = api._idle.serializers[_Box]

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["serializer"] is not kept


def test_a_failing_answer_gives_its_serializer_back_without_the_context():
    class Broken:
        name = "x"
        inner = None

        @property
        def price(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        api.represent(_Box, Broken(), context={"viewer": "ada"})
    assert api._idle.serializers[_Box]._context == {}
    assert api.represent(_Box, _box("d", "4"))["viewer"] == "nobody"
