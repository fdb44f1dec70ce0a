"""The import-linter contracts in pyproject.toml stay complete as the code grows: every app is
checked, every module of every app is either domain or interface in the domain contract, and
every app's ``models`` has a contract that keeps other apps out of it.

``lint-imports`` checks the imports the contracts name; these tests check that nothing escapes the
contracts by not being named (a new app missing from ``root_packages``, a new module kind that is
neither domain nor interface, a new app without its models contract).
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
DOMAIN_CONTRACT = "The domain never imports interfaces"


@cache
def importlinter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract(name_prefix: str) -> dict:
    [contract] = [c for c in importlinter()["contracts"] if c["name"].startswith(name_prefix)]
    return contract


def _pattern(expression: str) -> re.Pattern:
    # import-linter's module expressions: ``*`` is one module name, ``**`` one or more.
    parts = [{"*": r"[^.]+", "**": r"[^.]+(?:\.[^.]+)*"}.get(part, re.escape(part)) for part in expression.split(".")]
    return re.compile(r"\.".join(parts))


def _matches(module: str, expressions: list[str]) -> bool:
    """Whether ``module`` is one of ``expressions`` or inside one (contracts treat them as packages)."""
    names = module.split(".")
    ancestors = [".".join(names[:i]) for i in range(1, len(names) + 1)]
    return any(_pattern(e).fullmatch(a) for e in expressions for a in ancestors)


def _modules(package: str) -> list[str]:
    """Every module of an app but its tests and migrations (and the app package itself)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "tests" in parts or "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1:
            found.append(".".join(parts))
    return found


def _local_apps() -> list[str]:
    return [app for app in settings.INSTALLED_APPS if "." not in app and (ROOT / app / "__init__.py").exists()]


def test_every_app_of_the_project_is_checked_and_layered():
    roots = set(importlinter()["root_packages"])
    [layers] = [c["layers"] for c in importlinter()["contracts"] if c["type"] == "layers"]
    layered = {name.strip() for layer in layers for name in layer.split("|")}
    for app in _local_apps():
        assert app in roots, f"{app} is not in [tool.importlinter] root_packages: no contract sees it"
        assert app in layered, f"{app} has no layer in the layers contract"


def test_every_module_is_domain_or_interface_in_the_domain_contract():
    contract = _contract(DOMAIN_CONTRACT)
    domain, interface = contract["source_modules"], contract["forbidden_modules"]
    unclassified, both = [], []
    for app in importlinter()["root_packages"]:
        for module in _modules(app):
            is_domain, is_interface = _matches(module, domain), _matches(module, interface)
            if not (is_domain or is_interface):
                unclassified.append(module)
            elif is_domain and is_interface:
                both.append(module)
    assert not unclassified, (
        f"Neither domain nor interface: {unclassified}. Add the module kind to source_modules (domain) or "
        f"forbidden_modules (interface) of the contract {contract['name']!r} in pyproject.toml."
    )
    assert not both, f"Both domain and interface: {both}"


def test_the_domain_contract_names_the_house_layout_and_each_apps_own_domain_modules():
    domain = _contract(DOMAIN_CONTRACT)["source_modules"]
    for module in ("catalog.models", "orders.services", "catalog.selectors", "orders.tasks", "core.events",
                   "checkout.pricing", "checkout.services", "marketplace.buy_box", "promotions.engine",
                   "promotions.deals", "catalog.bulk", "catalog.search", "payments.providers.stripe"):
        assert _matches(module, domain), module
    interface = _contract(DOMAIN_CONTRACT)["forbidden_modules"]
    for module in ("catalog.views", "marketplace.api.serializers", "orders.admin", "checkout.forms",
                   "membership.templatetags.membership_tags", "core.management.commands.outbox_sweep"):
        assert _matches(module, interface), module
        assert not _matches(module, domain), module


def test_only_its_own_app_imports_an_apps_models():
    protected = {
        tuple(c["protected_modules"]): c for c in importlinter()["contracts"] if c["type"] == "protected"
    }
    for app in importlinter()["root_packages"]:
        if not ((ROOT / app / "models.py").exists() or (ROOT / app / "models").is_dir()):
            continue
        contract = protected.get((f"{app}.models",))
        assert contract is not None, f"no contract keeps other apps out of {app}.models"
        assert sorted(contract["allowed_importers"]) == sorted([app, "*.tests"]), contract["name"]
        assert contract.get("as_packages", True)
        assert contract.get("unmatched_ignore_imports_alerting", "error") == "error", (
            "an exception that no longer happens must be taken off the list"
        )
