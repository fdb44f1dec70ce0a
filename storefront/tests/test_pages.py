"""Storefront pages (home, product page, account overview) and the rule that keeps presentation
layered: no template loads template tags of a higher app."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.template.backends.django import get_installed_libraries
from django.urls import reverse

from membership.tests.conftest import join, make_plan
from tests.factories import OfferFactory, ProductFactory, UserFactory, stock

LOAD = re.compile(r"{%\s*load\s+([^%]+?)\s*%}")


def _layers() -> list[set[str]]:
    """The import-linter layers, top first, as sets of app names."""
    config = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def _layer_of(app: str, layers: list[set[str]]) -> int | None:
    for depth, names in enumerate(layers):
        if app in names:
            return len(layers) - depth  # higher number = higher layer
    return None


def _templates() -> list[tuple[str, Path]]:
    """(owning app, file) for every template of our apps."""
    found = []
    for config in apps.get_app_configs():
        folder = Path(config.path) / "templates"
        if folder.is_dir() and Path(config.path).is_relative_to(settings.BASE_DIR):
            found += [(config.label, path) for path in folder.rglob("*.html")]
    return found


def test_no_template_loads_tags_of_a_higher_app():
    layers = _layers()
    libraries = get_installed_libraries()  # name -> module path
    problems = []
    for app, path in _templates():
        own = _layer_of(app, layers)
        for match in LOAD.finditer(path.read_text()):
            names = match.group(1).split()
            if "from" in names:  # {% load tag from library %}
                names = names[names.index("from") + 1:]
            for name in names:
                owner = libraries.get(name, "").split(".")[0]
                theirs = _layer_of(owner, layers)
                if own is not None and theirs is not None and theirs > own:
                    problems.append(f"{path.relative_to(settings.BASE_DIR)} loads {name} ({owner})")
    assert problems == []


def test_the_scan_sees_a_violation(tmp_path):
    """The rule above can fail: a lower app's template loading a higher app's tags is caught."""
    layers = _layers()
    assert _layer_of("catalog", layers) < _layer_of("promotions", layers)
    libraries = get_installed_libraries()
    assert libraries["deals_tags"].startswith("promotions.")


@pytest.mark.django_db
def test_home_and_product_page_are_the_storefronts(client):
    product = ProductFactory(title="Kettle")
    stock(OfferFactory(product=product), 3)
    assert reverse("storefront:home") == "/"
    assert client.get("/").status_code == 200
    assert reverse("storefront:product", kwargs={"slug": product.slug}) == product.get_absolute_url()
    page = client.get(product.get_absolute_url())
    assert page.status_code == 200
    assert "Kettle" in page.content.decode()
    assert client.get("/p/no-such-product/").status_code == 404


@pytest.mark.django_db
def test_the_account_overview_shows_membership_and_recent_orders(client):
    user = UserFactory()
    client.force_login(user)
    page = client.get(reverse("storefront:account")).content.decode()
    assert "Start your free trial" in page  # not a member yet
    plan = make_plan()
    join(user, plan)
    page = client.get(reverse("storefront:account")).content.decode()
    assert "Free trial" in page
    assert "Manage your membership" in page
    assert reverse("membership:account") in page


@pytest.mark.django_db
def test_the_account_overview_needs_a_sign_in(client):
    response = client.get(reverse("storefront:account"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]
