"""Production-safe defaults: production refuses to start with an unsafe configuration (checked in a
fresh process, as a real start would be), ``check --deploy`` passes with a good one, the Docker files
run production settings without leaking secrets into the image, and ``seed_demo`` refuses to run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from catalog.models import Product
from shop.production import DEV_SECRET_KEY

BASE_DIR = Path(settings.BASE_DIR)
STRONG_KEY = "pX7s-Qm2vL9wRk4Zt8Yb1Nc6Hd3Jf5Ga0Ue-Wi7Oy2Tr9Ep4Sa6Dl1Kz8Xc3Vb5Nm0"  # 66 characters, test only

GOOD = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "DEBUG": "false",
    "ALLOWED_HOSTS": "shop.example.com",
    "SITE_URL": "https://shop.example.com",
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "TRUSTED_PROXIES": "",
    "FULFILLMENT_TEST_CARRIER_SECRET": "tc-" + STRONG_KEY[:40],
    "EASYPOST_API_KEY": "",
    "EASYPOST_WEBHOOK_SECRET": "",
}


def _run(argv: list[str], **overrides: str | None) -> subprocess.CompletedProcess:
    """Run ``argv`` in a fresh Python with the good production environment changed by ``overrides``
    (``None`` removes a variable). Every variable the guard reads is set explicitly (an empty string
    for "missing"), so a developer's ``.env`` cannot fill one in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_", "EASYPOST_", "FULFILLMENT_"))}
    env.update(GOOD)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    # Never the shared databases: nothing here should touch one (an in-memory SQLite if it does).
    env["DATABASE_URL"] = "sqlite://:memory:"
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, *argv], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _setup(**overrides: str | None) -> subprocess.CompletedProcess:
    return _run(["-c", "import django; django.setup()"], **overrides)


def test_production_with_a_good_configuration_passes_check_deploy_without_warnings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PAYMENT_PROVIDER": "test"}, "PAYMENT_PROVIDER is 'test' in production"),
        ({"PAYMENT_PROVIDER": ""}, "PAYMENT_PROVIDER is 'test' in production"),
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY is too weak for production: it is shorter than 50"),
        ({"SECRET_KEY": "ab" * 40}, "SECRET_KEY is too weak for production: it has fewer than 5 distinct"),
        ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "SECRET_KEY is too weak for production: it starts with"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is too weak for production: it is the development default"),
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG is on in production"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must list the site's host names"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list the site's host names"),
        ({"SITE_URL": None}, "SITE_URL"),
        ({"SITE_URL": "shop.example.com"}, "SITE_URL must be the site's absolute address"),
        ({"STRIPE_SECRET_KEY": ""}, "STRIPE_SECRET_KEY is required in production"),
        ({"STRIPE_PUBLISHABLE_KEY": ""}, "STRIPE_PUBLISHABLE_KEY is required in production"),
        ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET is required in production"),
        ({"TRUSTED_PROXIES": "10.0.0.300"}, "TRUSTED_PROXIES: '10.0.0.300' is not an IP address"),
        ({"TRUSTED_PROXY_COUNT": "1"}, "TRUSTED_PROXY_COUNT is set but TRUSTED_PROXIES is empty"),
        ({"FULFILLMENT_TEST_CARRIER_SECRET": None}, "FULFILLMENT_TEST_CARRIER_SECRET must be a long random"),
        ({"FULFILLMENT_TEST_CARRIER_SECRET": "short"}, "FULFILLMENT_TEST_CARRIER_SECRET must be a long random"),
        ({"EASYPOST_API_KEY": "EZTK123"}, "EASYPOST_WEBHOOK_SECRET is required in production"),
    ],
    ids=lambda value: ",".join(f"{k}={v!r:.20}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_production_refuses_to_start(overrides, message):
    result = _setup(**overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr, result.stderr[-2000:]


def test_the_good_configuration_starts_and_development_needs_none_of_it():
    assert _setup().returncode == 0
    # Development (the embedded default) starts with nothing set: the guard is for production only.
    dev = _setup(DJANGO_ENV="development", SECRET_KEY=None, PAYMENT_PROVIDER="test", DEBUG="true",
                 ALLOWED_HOSTS="*", SITE_URL=None, STRIPE_SECRET_KEY="", STRIPE_PUBLISHABLE_KEY="",
                 STRIPE_WEBHOOK_SECRET="")
    assert dev.returncode == 0, dev.stderr[-2000:]


# --- Docker -----------------------------------------------------------------------------------


def test_dockerignore_keeps_secrets_history_and_local_state_out_of_the_image():
    lines = {
        line.strip() for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".env", ".git", "var/", ".venv", "**/__pycache__", "bench/results", ".pytest_cache"):
        assert needed in lines, needed


def test_compose_runs_production_settings_and_requires_the_secrets():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    app_services = ("web", "worker", "beat")
    for name in app_services:
        environment = compose["services"][name]["environment"]
        assert environment["DJANGO_ENV"] == "production", name
        assert environment["DEBUG"] == "false"
        assert environment["PAYMENT_PROVIDER"] == "stripe"
        # ${VAR:?message}: compose refuses to start when the secret is not given.
        for secret in ("SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY",
                       "STRIPE_WEBHOOK_SECRET", "FULFILLMENT_TEST_CARRIER_SECRET"):
            assert environment[secret].startswith("${" + secret + ":?"), secret
        assert ":?" in environment["DATABASE_URL"]  # the database password is required too
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_compose_redis_evicts_cache_entries_but_never_the_event_buffer_or_a_queue(tmp_path):
    """The compose file's Redis, started as written (with a tiny memory limit), filled past its limit:
    cache entries (all with an expiry) make room; buffered shopper events and a Celery queue stay."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("needs the redis-server program")
    command = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [arg.replace("${REDIS_MAXMEMORY:-512mb}", "3mb") for arg in command[1:]]
    proc = subprocess.Popen([server, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, socket_timeout=5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.rpush("bazaar:1:analytics:buffer", *[f'{{"event_id": "{n}"}}' for n in range(200)])
        client.lpush("default", *[f"task-{n}" for n in range(50)])  # a Celery queue is a list, no expiry
        assert settings.CACHES["default"].get("TIMEOUT", 300) is not None  # every cache entry expires
        pipe = client.pipeline(transaction=False)
        for n in range(20_000):  # about 40 MB of page-cache entries into 3 MB
            pipe.set(f"bazaar:1:page:{n}", "x" * 2_000, ex=300)
        pipe.execute()
        assert client.dbsize() < 5_000  # entries were evicted to make room...
        assert client.llen("bazaar:1:analytics:buffer") == 200  # ...never a buffered event
        assert client.llen("default") == 50  # ...nor a queued task
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_static_files_built_in():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in dockerfile.splitlines()
                    if line.strip() and not line[0].isspace() and not line.startswith("#")]
    users = [rest.strip() for word, rest in instructions if word == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    assert "collectstatic --noinput" in dockerfile
    cmd = next(rest for word, rest in instructions if word == "CMD")
    assert "gunicorn" in cmd
    assert '"-c", "gunicorn.conf.py"' in cmd
    # Forwarded headers: gunicorn trusts only TRUSTED_PROXIES, never everyone.
    assert "forwarded-allow-ips" not in dockerfile
    conf = (BASE_DIR / "gunicorn.conf.py").read_text()
    assert 'os.environ.get("TRUSTED_PROXIES"' in conf


def test_gunicorn_trusts_exactly_the_trusted_proxies(monkeypatch):
    import runpy

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["forwarded_allow_ips"] == "10.0.0.5,10.1.0.0/16"
    monkeypatch.delenv("TRUSTED_PROXIES")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["forwarded_allow_ips"] == ""


def test_gunicorn_gives_requests_more_time_than_the_payment_provider_can_take(settings):
    """A slow provider must make the shopper try again, never get their worker killed mid-payment."""
    import runpy

    from payments.providers.stripe import CONNECT_TIMEOUT

    timeout = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["timeout"]
    attempts = 1 + settings.PAYMENT_PROVIDER_RETRIES
    worst = attempts * (CONNECT_TIMEOUT + settings.PAYMENT_PROVIDER_TIMEOUT) + 2 * attempts  # plus backoff
    assert worst < timeout * 0.5


# --- seed_demo --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="seed_demo refuses to run in production"):
        call_command("seed_demo", products=3, stdout=StringIO())
    assert not Product.objects.exists()
    assert not User.objects.exists()


def test_seed_demo_refuses_in_a_production_process():
    result = _run(["manage.py", "seed_demo", "--products", "1"])
    assert result.returncode != 0
    assert "seed_demo refuses to run in production (DJANGO_ENV=production)" in result.stderr
