"""The pinned requirement files agree with what the project declares and with what the tests run on.

``requirements/base.in`` and ``requirements/dev.in`` declare the direct dependencies; ``make
requirements`` (pip-tools) compiles them into ``requirements.txt`` (what a deployer installs) and
``requirements/dev.txt``. A declaration changed without recompiling, a hand-edited pin, or a
virtualenv that is not what the files say fails here, without asking any package index.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(settings.BASE_DIR)
RUNTIME = ROOT / "requirements.txt"
DEV = ROOT / "requirements" / "dev.txt"


def _logical_lines(path: Path) -> list[str]:
    """Lines with continuations joined and comments dropped."""
    text = path.read_text().replace("\\\n", " ")
    lines = (line.split(" #", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _declared(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in _logical_lines(path) if not line.startswith("-")]


def _pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a compiled file."""
    pins = {}
    for line in _logical_lines(path):
        requirement, *options = line.split(" --hash=")
        name, version = requirement.strip().split("==")
        pins[canonicalize_name(name)] = (version, [option.strip() for option in options])
    return pins


def _assert_pinned(declared: list[Requirement], pins: dict, where: Path) -> None:
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is declared but not pinned in {where.name}: run `make requirements`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in {where.name} does not satisfy {requirement}: run `make requirements`"
        )


def test_the_runtime_file_pins_every_declared_dependency_and_only_pinned_versions_with_hashes():
    pins = _pins(RUNTIME)
    _assert_pinned(_declared(ROOT / "requirements" / "base.in"), pins, RUNTIME)
    assert {"django", "celery", "stripe", "django-csp", "psycopg", "psycopg-binary"} <= set(pins)
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash in requirements.txt"
        assert all(h.startswith("sha256:") for h in hashes), name


def test_dev_pins_keep_the_runtime_pins_and_pin_every_declared_tool():
    runtime, dev = _pins(RUNTIME), _pins(DEV)
    _assert_pinned(_declared(ROOT / "requirements" / "dev.in"), dev, DEV)
    for name, (version, _) in runtime.items():
        assert dev.get(name, (None,))[0] == version, f"{name}: {version} at run time, {dev.get(name)} in dev.txt"
    assert {"pytest", "ruff", "import-linter", "pip-tools"} <= set(dev)


def test_the_tests_run_on_the_pinned_versions():
    wrong = {}
    for name, (version, _) in _pins(DEV).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"pinned vs installed: {wrong}; run `make install`"
