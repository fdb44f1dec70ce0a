"""Bazaar settings: everything comes from the environment (12-factor).

Run modes (see docs/architecture.md):

* embedded default: nothing set -> SQLite under var/, local-memory cache, eager Celery;
* services: DATABASE_URL and REDIS_URL set -> PostgreSQL, Redis (cache, sessions, broker),
  real Celery workers;
* production: DJANGO_ENV=production -> no default secret, secure cookies, JSON logs.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab  # insights: the day rollups (see "sessions and daily KPIs")
from django.utils.translation import gettext_lazy as _

from shop.production import DEV_SECRET_KEY, DEV_TEST_CARRIER_SECRET, parse_trusted_proxies, refuse_unsafe_production

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

# No default in production: it refuses to start without one, or with a weak one (end of this file).
SECRET_KEY = env.str("SECRET_KEY") if PRODUCTION else env.str("SECRET_KEY", default=DEV_SECRET_KEY)

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_htmx",
    "csp",
    # Bounded contexts, bottom layer first (see docs/architecture.md).
    "core",
    "accounts",
    "catalog",
    "experiments",  # --- Experiments (insights issue): assignment, layer 2 beside accounts and catalog
    "marketplace",
    "payments",
    "fulfillment",
    "orders",
    "finance",
    "promotions",
    "membership",
    "checkout",
    "insights",
    "storefront",
    "shop",
]

MIDDLEWARE = [
    # First: drops X-Forwarded-* / Forwarded headers unless they come from a TRUSTED_PROXIES address,
    # so nothing after it (is_secure(), the lockout's client address) can be spoofed by a client.
    "core.middleware.TrustedProxyMiddleware",
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (the policy is CONTENT_SECURITY_POLICY below).
    "core.middleware.CSPMiddleware",  # django-csp's, the policy built once
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin change pages: links to objects the viewer may not open become text (core.admin).
    "core.admin.AdminLinkGuardMiddleware",
    # request.visitor_id: the first-party bz_vid cookie, with consent when required (insights; core.analytics)
    "core.middleware.VisitorMiddleware",
    # request.strategy: what this buyer can buy, at what price, when it arrives (shop.strategy)
    "shop.middleware.StrategyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a lockout flagged during the request into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
ASGI_APPLICATION = "shop.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.context_processors.shop",
                "checkout.context_processors.cart",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bazaar.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # services own their transactions
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters travel apart from the SQL (server-side binding), so a statement's text is the same
    # every time it runs and PostgreSQL plans it once per connection: psycopg prepares a statement
    # after DB_PREPARE_THRESHOLD runs on a connection. Behind a pooler that does not keep prepared
    # statements (PgBouncer in transaction mode before 1.21), set DB_PREPARE_THRESHOLD=0.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("server_side_binding", env.bool("DB_SERVER_SIDE_BINDING", default=True))
    _db_options.setdefault("prepare_threshold", env.int("DB_PREPARE_THRESHOLD", default=5) or None)
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default="test_bazaar")
else:
    # SQLite (the embedded default): a write transaction takes the lock when it begins and waits
    # up to 20 s for it. Begun deferred, two at once (a double click) could each read, then fail
    # to write with "database is locked" at once, however long the timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
USES_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "storefront:account"
LOGOUT_REDIRECT_URL = "storefront:home"

# Argon2 hashes new passwords; the others still verify (and upgrade) older hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# django-axes watches every authenticate() call (shop sign-in, admin, API token) and locks out
# an e-mail + IP pair after repeated failures; ModelBackend then does the real check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend with a cheaper read of each request's user (accounts.backends).
    "accounts.backends.EmailBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Every sign-in form (ours, admin) calls authenticate(username=<e-mail>); axes must read that key.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.username_from_credentials"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# The reverse proxies (a load balancer, nginx...) allowed to set X-Forwarded-For/-Proto/-Host and
# Forwarded: IP addresses or CIDR networks of the proxy the app sees as REMOTE_ADDR. From any other
# address those headers are dropped (core.middleware.TrustedProxyMiddleware). Empty: none trusted.
TRUSTED_PROXIES = parse_trusted_proxies(env.list("TRUSTED_PROXIES", default=[]))
# How many trusted proxies append to X-Forwarded-For: the client address for the lockout is read
# from that header, counted from the right (see accounts.lockout.client_ip). One when proxies are set.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1 if TRUSTED_PROXIES else 0)
if TRUSTED_PROXY_COUNT and not TRUSTED_PROXIES:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT is set but TRUSTED_PROXIES is empty: X-Forwarded-For is only read from a "
        "trusted proxy. Set TRUSTED_PROXIES to the address (or network) of your reverse proxy."
    )
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # a reset link works for one day

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Cache, sessions, Celery ------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bazaar"),
            "TIMEOUT": 60 * 60,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Cache errors degrade to a miss (invariant 6 in docs/architecture.md): pages fall back to the DB.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "bazaar",
            "TIMEOUT": 60 * 60,
        }
    }
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
# Sessions live in the database only (one primary-key read per request that carries a session
# cookie). A copy in Redis (cached_db) would outlive a sign-out made while Redis was unreachable
# and sign the old cookie in again once Redis is back; the database is the one place a deletion
# always reaches. A Redis outage never signs anyone out or loses a session either.
# core.sessions is Django's database store with a cheaper read (one prepared statement).
SESSION_ENGINE = "core.sessions"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
# Nothing in Bazaar waits for a task's return value (tasks write what they do to the database),
# so a worker stores no result unless asked (CELERY_TASK_IGNORE_RESULT=false, e.g. for Flower).
CELERY_TASK_IGNORE_RESULT = env.bool("CELERY_TASK_IGNORE_RESULT", default=True)
# Inline tasks (eager) raise into the caller only when asked (the test suite does); otherwise an
# inline task's failure is logged and its outbox row kept for `manage.py outbox_sweep`.
CELERY_TASK_EAGER_PROPAGATES = env.bool("CELERY_TASK_EAGER_PROPAGATES", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django support closes every database connection before and after each task unless told
# to keep it for this many tasks; a worker then connected anew for every task (about a sixth of its
# CPU, a new PostgreSQL server process each time, and no statement ever prepared). Keeping it this
# long leaves the decision to shop.celery, which ages and drops connections like a web request does
# (DB_CONN_MAX_AGE; a connection left broken or mid-transaction is closed).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "catalog.tasks.*": {"queue": "media"},
    "*.send_*": {"queue": "email"},
}
# A broker that vanished without closing the connection (frozen, partitioned) fails a publish
# after this many seconds instead of hanging the request; the task waits in the outbox (core.outbox).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0),
    "socket_connect_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0),
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    # Publish tasks whose first send failed (broker down) or whose sender died (see core.outbox).
    "sweep-outbox": {"task": "core.tasks.sweep_outbox", "schedule": 60, "options": {"expires": 55}},
    # Domain events are kept EVENT_RETENTION_DAYS, then deleted (core.events.prune).
    "prune-events": {"task": "core.tasks.prune_events", "schedule": 24 * 60 * 60},
    # Walk every unpaid order: ask the provider, mark paid, or undo after UNPAID_ORDER_MAX_AGE_MINUTES.
    "settle-unpaid-orders": {"task": "checkout.tasks.settle_unpaid_orders", "schedule": 10 * 60},
    # Capture card authorizations that would lapse before their order ships (or flag it for staff).
    "secure-expiring-payments": {"task": "orders.tasks.secure_expiring_payments", "schedule": 60 * 60},
    "complete-delivered-orders": {"task": "orders.tasks.complete_delivered_orders", "schedule": 60 * 60},
    # Product and deals pages show a lightning deal from its start to its end (idempotent; see promotions).
    "bump-deal-boundaries": {"task": "promotions.tasks.bump_deal_boundaries", "schedule": 60},
    # Charge due renewals, retry declined ones, expire lapsed memberships (idempotent; see membership).
    "renew-due-subscriptions": {"task": "membership.tasks.renew_due_subscriptions", "schedule": 15 * 60},
    # Sellers' reserves become available FINANCE_RESERVE_DAYS after delivery (idempotent; see finance).
    "release-seller-reserves": {"task": "finance.tasks.release_reserves", "schedule": 60 * 60},
    # Storage fees: the day's cubic feet per seller, and last month's charge (once; daily catches up).
    "snapshot-storage": {"task": "fulfillment.tasks.snapshot_storage", "schedule": 24 * 60 * 60},
    "charge-storage-fees": {"task": "fulfillment.tasks.charge_storage_fees", "schedule": 6 * 60 * 60},
    # Tracking: ask the carriers about parcels not delivered yet (the webhooks' fallback).
    "poll-tracking": {"task": "fulfillment.tasks.poll_tracking", "schedule": 30 * 60},
    "deliver-overdue-packages": {"task": "orders.tasks.deliver_overdue_packages", "schedule": 6 * 60 * 60},
    # Merchant returns not answered within RETURNS_SELLER_ANSWER_BUSINESS_DAYS are approved (see orders.returns).
    "approve-unanswered-returns": {"task": "orders.tasks.approve_unanswered_returns", "schedule": 60 * 60},
    # Pay sellers on each settlement date; retry payouts whose transfer failed (idempotent; see finance).
    "run-seller-payouts": {"task": "finance.tasks.run_payouts", "schedule": 60 * 60},
    # Sellers' account health, once a day (idempotent per seller and day; decides buy-box eligibility).
    "compute-seller-health": {"task": "finance.tasks.compute_health", "schedule": 6 * 60 * 60},
    # Gift cards whose delivery date has come are e-mailed to their recipients (once; see payments.gift_cards).
    "deliver-gift-cards": {"task": "payments.tasks.deliver_gift_cards", "schedule": 15 * 60},
}

# --- i18n -------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / env.str("STATIC_ROOT", default="var/static")
STATICFILES_DIRS = [BASE_DIR / "static"]
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "querystring_auth": False,
        },
    }
# Files never served as media (shipping labels carry buyers' addresses): only views that check who
# asks read them. On disk outside MEDIA_ROOT; on S3 a bucket of their own (or a "private/" prefix
# of the media bucket) with signed, short-lived URLs.
PRIVATE_ROOT = Path(env.str("PRIVATE_ROOT", default="") or VAR_DIR / "private")
STORAGES["private"] = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                       "OPTIONS": {"location": str(PRIVATE_ROOT)}}
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES["private"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_PRIVATE_BUCKET_NAME", default="") or env.str("AWS_STORAGE_BUCKET_NAME"),
            "location": "" if env.str("AWS_PRIVATE_BUCKET_NAME", default="") else "private",
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
        },
    }
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=not PRODUCTION)
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Email ------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Bazaar <shop@bazaar.localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Who is told when money cannot be returned automatically (and of server errors): comma-separated
# e-mail addresses. Orders with a payment problem are also flagged in admin.
ADMINS = [("Bazaar operations", address) for address in env.list("ADMINS", default=[])]

# --- Shop -------------------------------------------------------------------------------
SHOP_NAME = env.str("SHOP_NAME", default="Bazaar")
# Absolute base of links in e-mails (they are sent by workers, outside any request), password-reset
# links included: never the request's Host header. Required in production.
SITE_URL = env.str("SITE_URL") if PRODUCTION else env.str("SITE_URL", default="http://127.0.0.1:8000")
# A guest's order link (in their e-mails) opens the order for this many days after it was sent.
GUEST_LINK_MAX_AGE_DAYS = env.int("GUEST_LINK_MAX_AGE_DAYS", default=90)
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="USD")
# Shown prices include tax (EU style) or tax is added at checkout (US style).
PRICES_INCLUDE_TAX = env.bool("PRICES_INCLUDE_TAX", default=False)
CATALOG_PAGE_SIZE = env.int("CATALOG_PAGE_SIZE", default=24)
# Category and search pages count at most this many products ("over 1,000 results"); their pages stop there.
CATALOG_COUNT_CAP = env.int("CATALOG_COUNT_CAP", default=1000)
PAGE_CACHE_TIMEOUT = env.int("PAGE_CACHE_TIMEOUT", default=15 * 60)
PAGE_CACHE_ENABLED = env.bool("PAGE_CACHE_ENABLED", default=True)
# Megabytes of stored pages each web process also keeps in its own memory, answered without a Redis
# round trip while its subscription to the cache's changes is alive (core.cache); 0 turns it off.
CACHE_LOCAL_MB = env.int("CACHE_LOCAL_MB", default=32)
# What the layout's personal parts (templates/personal/) may show about the visitor: the only
# context they are rendered with, on stored pages and on others alike (core.pagecache).
PERSONAL_PARTS_CONTEXT = "shop.context_processors.personal_parts"
# "postgres" or "simple"; empty picks by database vendor.
SEARCH_BACKEND = env.str("SEARCH_BACKEND", default="")

# --- Payments ---------------------------------------------------------------------------
# The providers the shop can use (code -> provider class) and the one it uses: "test" (built-in,
# no network; see README "Payments") or "stripe". A code missing here stops start-up (payments.E001).
PAYMENT_PROVIDERS = {
    "test": "payments.providers.test.TestProvider",
    "stripe": "payments.providers.stripe.StripeProvider",
}
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="test")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Where pages load Stripe.js from. Its origin is allowed in the Content-Security-Policy (below);
# tests point it at a stand-in served by the test server (same origin, already allowed).
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# Seconds to wait for the provider's answer (after a 3 s connect timeout), and network retries
# (each with the same idempotency key). 8 s and 1 retry: at most about 23 s, well inside the web
# worker's 60 s timeout (gunicorn.conf.py), so a slow provider never kills a request half-way.
PAYMENT_PROVIDER_TIMEOUT = env.float("PAYMENT_PROVIDER_TIMEOUT", default=8.0)
PAYMENT_PROVIDER_RETRIES = env.int("PAYMENT_PROVIDER_RETRIES", default=1)
# An order whose payment is still open this long after it was placed (the shopper left the
# payment page, the bank never answered) is given up: its intent is cancelled, its stock released.
UNPAID_ORDER_MAX_AGE_MINUTES = env.int("UNPAID_ORDER_MAX_AGE_MINUTES", default=60)
# A card authorization holds this long when the provider does not say (7 days at Stripe).
PAYMENT_AUTHORIZATION_DAYS = env.int("PAYMENT_AUTHORIZATION_DAYS", default=7)

# --- Store credit and gift cards (payments.store_credit, payments.gift_cards) -----------------
# Gift cards are issued for one of these amounts, or any amount from GIFT_CARD_MIN_AMOUNT to
# GIFT_CARD_MAX_AMOUNT (in the shop's currency; a minimum above the maximum allows the fixed ones only).
GIFT_CARD_DENOMINATIONS = tuple(Decimal(v) for v in env.list("GIFT_CARD_DENOMINATIONS",
                                                             default=["10", "25", "50", "100"]))
GIFT_CARD_MIN_AMOUNT = Decimal(env.str("GIFT_CARD_MIN_AMOUNT", default="5.00"))
GIFT_CARD_MAX_AMOUNT = Decimal(env.str("GIFT_CARD_MAX_AMOUNT", default="500.00"))
# The secret gift card codes are hashed with (HMAC-SHA256; the database keeps only the hash) and
# derived from while their e-mail waits to be sent. Set it once and keep it: a card whose code was
# hashed with a secret no longer listed here cannot be found. To rotate, put the old one in the
# fallbacks (comma-separated). Empty: SECRET_KEY (which then must not be rotated without this).
GIFT_CARD_SECRET = env.str("GIFT_CARD_SECRET", default="") or SECRET_KEY
GIFT_CARD_SECRET_FALLBACKS = env.list("GIFT_CARD_SECRET_FALLBACKS", default=[])
# Gift cards a shopper buys: at most this many in one cart, worth at most this much together.
GIFT_CARDS_PER_CART = env.int("GIFT_CARDS_PER_CART", default=10)
GIFT_CARDS_MAX_PER_ORDER = Decimal(env.str("GIFT_CARDS_MAX_PER_ORDER", default="2000.00"))

# --- Domain events (the composition point) ---------------------------------------------
# Who is told what happened, durably (core.events.record): event -> Celery tasks run with the
# event's payload, at least once, after the commit that produced it. A name that is not a task
# stops `manage.py check` (core.E003).
# How long the event log keeps domain events (analytics and webhooks read them meanwhile).
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=90)
EVENT_CONSUMERS: dict[str, tuple[str, ...]] = {
    # A provider's webhook changed a payment: the order it pays for becomes paid, or is undone
    # (whichever of the webhook and the shopper's return page comes first; once).
    "payments.payment_updated": ("checkout.tasks.settle_order_payment",),
    # Offers, stock, sellers, shipping or deals changed: the stored buy boxes are refreshed in a
    # worker with the shop's strategy (stock, deals), never inside the request that changed them.
    "marketplace.buy_box_stale": ("shop.tasks.refresh_buy_boxes",),
    # An order reserved stock: its products' buy boxes are refreshed once, in a worker.
    "orders.order_placed": ("shop.tasks.refresh_buy_boxes_for_order",),
    # The seller ledger (finance): a shipped package posts its sale, fees and reserve; a refund
    # takes them back (each posting once per event, whatever the retries).
    "orders.package_shipped": ("finance.tasks.post_package_shipped",),
    "orders.order_refunded": ("finance.tasks.post_order_refunded", "finance.tasks.credit_order_refunded"),
    "orders.order_partially_refunded": ("finance.tasks.post_order_partially_refunded",
                                        "finance.tasks.credit_order_partially_refunded"),
    # Invoices and credit notes (finance): an order that became paid gets one invoice per seller; a
    # paid order cancelled, or refunded (above), a credit note per invoice (each once, numbered gaplessly).
    "orders.status_changed": ("finance.tasks.issue_order_documents",),
    # A cancelled order's voucher use and lightning-deal units are given back (promotions).
    "orders.order_cancelled": ("promotions.tasks.release_cancelled_order",),
    # A month's storage fee charged to a seller: posted to its ledger (once).
    "fulfillment.storage_charged": ("finance.tasks.post_storage_charged",),
    # Units a seller asked back were sent: the removal fee, posted to its ledger (once).
    "fulfillment.removal_completed": ("finance.tasks.post_removal_completed",),
    # A parcel's tracking moved: its package is delivered (or the buyer told), in orders.
    "fulfillment.tracking_updated": ("orders.tasks.apply_tracking",),
    # A new seller from an approved application gets its own shipping location to hold stock in.
    "marketplace.seller_approved": ("fulfillment.tasks.open_seller_location",),
    # A customer closed their account: insights and catalog forget them too.
    "accounts.account_closed": ("insights.tasks.forget_closed_account", "catalog.tasks.forget_closed_author"),
}

# --- Orders: claims ----------------------------------------------------------------------
# A buyer may open a claim against a seller up to this many days after the package shipped.
ORDERS_CLAIM_WINDOW_DAYS = env.int("ORDERS_CLAIM_WINDOW_DAYS", default=90)
# A seller has this long to answer a claim; staff decide once it has answered or the time is up.
ORDERS_CLAIM_ANSWER_HOURS = env.int("ORDERS_CLAIM_ANSWER_HOURS", default=72)
# A package shipped without a Bazaar label is taken as delivered this many days after its latest
# promised day (sellers never mark their own packages delivered; carriers' tracking or staff do).
ORDERS_ASSUME_DELIVERED_DAYS = env.int("ORDERS_ASSUME_DELIVERED_DAYS", default=7)

# --- Orders: returns (orders.returns) ------------------------------------------------------
# Without a return policy for a product's category (or an ancestor's), items are returnable this
# many days after delivery, and the shopper pays the return label for these reasons (comma-separated).
RETURNS_WINDOW_DAYS = env.int("RETURNS_WINDOW_DAYS", default=30)
RETURNS_BUYER_PAYS_REASONS = env.list("RETURNS_BUYER_PAYS_REASONS", default=["no_longer_needed"])
# A seller that has not answered a return of its own package within this many business days
# (Monday to Friday; public holidays are not counted out) has it approved automatically.
RETURNS_SELLER_ANSWER_BUSINESS_DAYS = env.int("RETURNS_SELLER_ANSWER_BUSINESS_DAYS", default=2)
# Refund trusted shoppers when the carrier first scans their return label (drop-off) instead of on
# receipt: an account with at least RETURNS_TRUSTED_MIN_ORDERS delivered orders and no refused return.
RETURNS_REFUND_AT_DROP_OFF = env.bool("RETURNS_REFUND_AT_DROP_OFF", default=False)
RETURNS_TRUSTED_MIN_ORDERS = env.int("RETURNS_TRUSTED_MIN_ORDERS", default=5)
# What a shopper is told when no carrier label can be bought for a return (the address follows).
RETURNS_DROP_OFF_INSTRUCTIONS = env.str(
    "RETURNS_DROP_OFF_INSTRUCTIONS",
    default="Pack the items with the return number on a note inside and drop them off at any post office, "
            "addressed to:")

# --- Fulfilled by Bazaar: sizes and fees (fulfillment.sizing) -------------------------------
# Dimensional weight = length x width x height (inches) / this divisor (pounds).
FULFILLMENT_DIM_DIVISOR = Decimal(env.str("FULFILLMENT_DIM_DIVISOR", default="139"))
# A product without its size yet is charged as this tier and shipping weight until staff measure it.
FULFILLMENT_UNMEASURED = (env.str("FULFILLMENT_UNMEASURED_TIER", default="large-standard"),
                          Decimal(env.str("FULFILLMENT_UNMEASURED_WEIGHT_LB", default="2")))

# Storage fees (fulfillment.storage): the months charged at the peak rate, and the cubic feet of a
# unit not measured yet.
FULFILLMENT_PEAK_MONTHS = tuple(env.list("FULFILLMENT_PEAK_MONTHS", cast=int, default=[10, 11, 12]))
FULFILLMENT_UNMEASURED_CUBIC_FEET = Decimal(env.str("FULFILLMENT_UNMEASURED_CUBIC_FEET", default="0.25"))
# Units stored longer than this many days pay the aged inventory surcharge each month.
FULFILLMENT_AGED_DAYS = env.int("FULFILLMENT_AGED_DAYS", default=180)

# First-party purchasing (fulfillment.purchasing): reorder suggestions from the sales per day over
# the last PURCHASING_VELOCITY_DAYS, the supplier's lead time plus PURCHASING_SAFETY_DAYS of safety
# stock, and orders that cover PURCHASING_COVER_DAYS of sales beyond the reorder point.
PURCHASING_VELOCITY_DAYS = env.int("PURCHASING_VELOCITY_DAYS", default=28)
PURCHASING_SAFETY_DAYS = env.int("PURCHASING_SAFETY_DAYS", default=7)
PURCHASING_COVER_DAYS = env.int("PURCHASING_COVER_DAYS", default=28)

# Carriers (fulfillment.carriers): code -> dotted path of the carrier class; the test carrier's
# webhook secret; the carrier and service used when staff buy a label without choosing.
FULFILLMENT_CARRIERS = {"test": "fulfillment.carriers.TestCarrier"}
FULFILLMENT_TEST_CARRIER_SECRET = env.str("FULFILLMENT_TEST_CARRIER_SECRET", default=DEV_TEST_CARRIER_SECRET)
FULFILLMENT_DEFAULT_CARRIER = env.str("FULFILLMENT_DEFAULT_CARRIER", default="test")
# EasyPost (fulfillment.easypost_carrier), carrier "easypost" once its API key is set: the secret its
# tracking webhooks are signed with, and the longest wait for any one of its answers.
EASYPOST_API_KEY = env.str("EASYPOST_API_KEY", default="")
EASYPOST_WEBHOOK_SECRET = env.str("EASYPOST_WEBHOOK_SECRET", default="")
EASYPOST_TIMEOUT_SECONDS = env.float("EASYPOST_TIMEOUT_SECONDS", default=10.0)
if EASYPOST_API_KEY:
    FULFILLMENT_CARRIERS["easypost"] = "fulfillment.easypost_carrier.EasyPostCarrier"

# --- Inventory files (fulfillment.inventory) ------------------------------------------------
# A seller's offers and stock from a CSV: at most this many bytes and rows; files of up to
# INVENTORY_UPLOAD_INLINE_ROWS rows run in the request, larger ones in a worker with progress.
INVENTORY_UPLOAD_MAX_BYTES = env.int("INVENTORY_UPLOAD_MAX_BYTES", default=5_000_000)
INVENTORY_UPLOAD_MAX_ROWS = env.int("INVENTORY_UPLOAD_MAX_ROWS", default=50_000)
INVENTORY_UPLOAD_INLINE_ROWS = env.int("INVENTORY_UPLOAD_INLINE_ROWS", default=200)

# --- Finance ----------------------------------------------------------------------------
# Money from a package becomes available to its seller this many days after its delivery.
FINANCE_RESERVE_DAYS = env.int("FINANCE_RESERVE_DAYS", default=7)
# A refund returns the referral fee less the lesser of this share of it and this amount.
FINANCE_REFUND_ADMIN_FEE_PERCENT = Decimal(env.str("FINANCE_REFUND_ADMIN_FEE_PERCENT", default="20"))
FINANCE_REFUND_ADMIN_FEE_MAX = Decimal(env.str("FINANCE_REFUND_ADMIN_FEE_MAX", default="5.00"))
# Sellers are paid their available balance every this many days, counted from this date (a settlement date).
FINANCE_PAYOUT_PERIOD_DAYS = env.int("FINANCE_PAYOUT_PERIOD_DAYS", default=14)
FINANCE_PAYOUT_EPOCH = env.str("FINANCE_PAYOUT_EPOCH", default="2026-01-05")
# Account health targets (percent) and windows (days); a rate over fewer than FINANCE_HEALTH_MIN_ORDERS
# orders (or shipped packages) is not judged yet. Outside a target, a seller does not win buy boxes.
FINANCE_HEALTH_TARGETS = {
    "order_defect_rate": (Decimal("1.00"), 60),  # below, over 60 days
    "cancel_rate": (Decimal("2.50"), 7),  # below, over 7 days
    "late_shipment_rate": (Decimal("4.00"), 30),  # below, over 30 days
    "valid_tracking_rate": (Decimal("95.00"), 30),  # at least, over 30 days
    "on_time_delivery_rate": (Decimal("90.00"), 30),  # at least, over packages due in the last 30 days
}
FINANCE_HEALTH_MIN_ORDERS = env.int("FINANCE_HEALTH_MIN_ORDERS", default=10)
# How payouts are sent (a dotted path to a finance.providers.PayoutProvider).
FINANCE_PAYOUT_PROVIDER = env.str("FINANCE_PAYOUT_PROVIDER", default="finance.providers.TestPayoutProvider")
# Bazaar as merchant of record of its own (first-party) lines, on the house seller's invoices: its
# legal name (default SHOP_NAME), postal address (lines separated by "|") and tax id.
FINANCE_HOUSE_LEGAL_NAME = env.str("FINANCE_HOUSE_LEGAL_NAME", default="") or SHOP_NAME
FINANCE_HOUSE_ADDRESS = [line.strip() for line in env.str("FINANCE_HOUSE_ADDRESS", default="").split("|")
                         if line.strip()]
FINANCE_HOUSE_TAX_ID = env.str("FINANCE_HOUSE_TAX_ID", default="")

# --- Membership -------------------------------------------------------------------------
# A declined renewal is retried this many days after the renewal date (one retry per entry),
# as long as that is inside the grace period; benefits continue during the grace period and the
# membership expires at its end if still unpaid.
MEMBERSHIP_RETRY_DAYS = tuple(env.list("MEMBERSHIP_RETRY_DAYS", cast=int, default=[1, 3, 5]))
MEMBERSHIP_GRACE_DAYS = env.int("MEMBERSHIP_GRACE_DAYS", default=7)
# Joining with a free trial checks the card: this amount is authorized and released at once.
MEMBERSHIP_CARD_CHECK_AMOUNT = env.str("MEMBERSHIP_CARD_CHECK_AMOUNT", default="1.00")

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token scheme, but a token stops working API_TOKEN_TTL_DAYS after it was issued. First,
        # so that a signed-out client is told to authenticate (401 with a `WWW-Authenticate: Token`
        # challenge) rather than refused (403): the first scheme's challenge is the one DRF sends.
        "accounts.authentication.ExpiringTokenAuthentication",
        # A browser's session (CSRF-checked for writes) works as well.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "core.api.StrictPageNumberPagination",
    # DRF's three, the JSON one refusing bodies nested too deep (a 400, never a RecursionError).
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 24,
    "DEFAULT_THROTTLE_CLASSES": [
        # Every request, per user or client address, at the api_user / api_anon rates below.
        "core.throttling.ApiRateLimit",
        # Opt-in per view (``throttle_scope``, ``throttle_field_scopes``), at the RATE_LIMITS rates.
        "core.throttling.ScopedRateLimit",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
# An API token works for this many days after it is issued (then 401; the token endpoint gives a
# new one). Changing or resetting the password deletes the user's tokens at once.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)

# --- Abuse limits -----------------------------------------------------------------------
# Per scope, "<count>/<period>" (period: s, min, hour, day, or e.g. "15min"); empty turns a limit off.
# Counted per signed-in user, else per client address (TRUSTED_PROXY_COUNT applies), in the cache;
# the same counters serve the pages and the API. When the cache is unreachable nothing is limited.
RATE_LIMITS = {
    "api_anon": env.str("API_THROTTLE_ANON", default="1200/min"),  # API requests per client address
    "api_user": env.str("API_THROTTLE_USER", default="6000/min"),  # API requests per signed-in user
    "place_order": env.str("RATE_LIMIT_PLACE_ORDER", default="20/min"),
    "membership": env.str("RATE_LIMIT_MEMBERSHIP", default="10/min"),  # joining, changing the card
    "voucher": env.str("RATE_LIMIT_VOUCHER", default="30/min"),  # voucher codes checked
    "password_reset_email": env.str("RATE_LIMIT_PASSWORD_RESET_EMAIL", default="5/hour"),  # e-mails per address
    "password_reset_client": env.str("RATE_LIMIT_PASSWORD_RESET_CLIENT", default="20/hour"),  # requests per client
    # gift card codes tried (balance checks and redemptions), per signed-in user and per client address
    "gift_card": env.str("RATE_LIMIT_GIFT_CARD", default="10/hour"),
    "account_close": env.str("RATE_LIMIT_ACCOUNT_CLOSE", default="10/hour"),  # password tries to close an account
}
# How a client's address is read (shared with the sign-in lockout above).
CLIENT_IP_CALLABLE = AXES_CLIENT_IP_CALLABLE
# The highest price anyone may type (offers, deals, promotions, vouchers, plans, shipping); the
# amount columns hold up to 9,999,999,999.99, and an order whose totals would not fit is refused.
MAX_PRICE = env.str("MAX_PRICE", default="1000000.00")

# --- Insights: shopper events (core.analytics -> Redis buffer -> insights.Event) ---------------
# With consent required, no visitor cookie is set and nothing is tracked until the visitor accepts
# the banner (bz_consent=yes); a "no" is respected in either mode.
INSIGHTS_CONSENT_REQUIRED = env.bool("INSIGHTS_CONSENT_REQUIRED", default=False)
# Days of events kept: older daily partitions are dropped whole (insights.tasks.drop_old_partitions).
INSIGHTS_RETENTION_DAYS = env.int("INSIGHTS_RETENTION_DAYS", default=400)
# Daily partitions created this many days ahead (hourly, insights.tasks.ensure_partitions).
INSIGHTS_PARTITIONS_AHEAD_DAYS = env.int("INSIGHTS_PARTITIONS_AHEAD_DAYS", default=7)
# Seconds between two drains of the Redis buffer into the event table.
INSIGHTS_FLUSH_SECONDS = env.float("INSIGHTS_FLUSH_SECONDS", default=5.0)
# Crawlers' events are dropped; on, they are stored with is_bot set.
INSIGHTS_KEEP_BOT_EVENTS = env.bool("INSIGHTS_KEEP_BOT_EVENTS", default=False)
# Domain events younger than this wait for the next run (a lower id may still be committing).
INSIGHTS_DOMAIN_EVENTS_SETTLE_SECONDS = env.int("INSIGHTS_DOMAIN_EVENTS_SETTLE_SECONDS", default=30)
# core.analytics: the Redis list (under the cache's key prefix), what writes events without Redis
# (the composition point tells core which function of insights that is), paths never tracked, and
# how long the buffer is bypassed after a Redis error.
ANALYTICS_BUFFER_KEY = "analytics:buffer"
ANALYTICS_DIRECT_SINK = "insights.services.events_insert"
ANALYTICS_EXCLUDED_PATHS = ("/healthz", "/readyz")
ANALYTICS_REDIS_RETRY_SECONDS = 5
# Beacon posts (POST /insights/e/, up to 20 events each) per client address.
RATE_LIMITS["insights_beacon"] = env.str("RATE_LIMIT_INSIGHTS_BEACON", default="120/min")
CELERY_BEAT_SCHEDULE.update({
    "insights-flush-events": {"task": "insights.tasks.flush_events", "schedule": INSIGHTS_FLUSH_SECONDS,
                              "options": {"expires": INSIGHTS_FLUSH_SECONDS * 2}},
    "insights-ingest-domain-events": {"task": "insights.tasks.ingest_domain_events", "schedule": 15,
                                      "options": {"expires": 30}},
    "insights-ensure-partitions": {"task": "insights.tasks.ensure_partitions", "schedule": 60 * 60},
    "insights-drop-old-partitions": {"task": "insights.tasks.drop_old_partitions", "schedule": 24 * 60 * 60},
})
# Recommendations (insights.recommendations): computed nightly from this many days of events, this
# many kept per product and kind.
INSIGHTS_RECS_DAYS = env.int("INSIGHTS_RECS_DAYS", default=180)
INSIGHTS_RECS_TOP_N = env.int("INSIGHTS_RECS_TOP_N", default=20)
CELERY_BEAT_SCHEDULE["insights-recommendations"] = {
    "task": "insights.tasks.compute_recommendations", "schedule": 24 * 60 * 60}
# --- end of Insights ----------------------------------------------------------------------------
# --- Insights: sessions and daily KPIs (insights.sessions, insights.rollups) --------------------
# A session ends after this many minutes without an event (and at midnight UTC).
INSIGHTS_SESSION_TIMEOUT_MINUTES = env.int("INSIGHTS_SESSION_TIMEOUT_MINUTES", default=30)
CELERY_BEAT_SCHEDULE.update({
    # Yesterday's final figures, then today's so far (each run replaces the whole day: idempotent).
    "insights-rollup-yesterday": {"task": "insights.tasks.rollup_day", "kwargs": {"days_ago": 1},
                                  "schedule": crontab(minute=30, hour=0)},
    "insights-rollup-today": {"task": "insights.tasks.rollup_day", "kwargs": {"days_ago": 0},
                              "schedule": crontab(minute="*/15"), "options": {"expires": 14 * 60}},
})
# --- end of Insights: sessions and daily KPIs ------------------------------------------------------
# --- Insights: the analytics export, "the lake" (insights.lake, manage.py export_lake) -----------
# Where the Parquet zones go (a local path; relative paths are under the project's directory).
LAKE_ROOT = env.str("LAKE_ROOT", default="var/lake")
# The HMAC key of the clean and curated zones' pseudonyms. Empty: derived from SECRET_KEY with a salt.
# Rotating it (or SECRET_KEY, when derived) changes every pseudonym: older exports no longer join.
LAKE_PSEUDONYM_KEY = env.str("LAKE_PSEUDONYM_KEY", default="")
# Test orders: an e-mail at one of these domains (or a subdomain; "test" is the .test TLD), or
# properties carrying "test": true, drops the order's events from the clean zone.
LAKE_TEST_EMAIL_DOMAINS = env.list("LAKE_TEST_EMAIL_DOMAINS", default=["example.com", "example.org", "test"])
# Property keys removed from the clean zone at any depth (direct identifiers; insights.lake's default list).
LAKE_PII_KEYS = env.list("LAKE_PII_KEYS", default=[
    "email", "e_mail", "email_address", "customer_email", "user_email", "recipient_email", "first_name",
    "last_name", "full_name", "customer_name", "recipient_name", "billing_name", "shipping_name", "phone",
    "phone_number", "telephone", "address", "address_line1", "address_line2", "street", "street_address",
    "postcode", "postal_code", "zip", "zip_code", "ip", "ip_address", "remote_addr", "client_ip",
    "x_forwarded_for", "user_agent", "password", "token", "card_number"])
# Days checked by a plain `manage.py export_lake` (today included); --full checks every day kept.
LAKE_DEFAULT_DAYS = env.int("LAKE_DEFAULT_DAYS", default=3)
# Stopped experiments keep getting a results snapshot while they had exposures this recently.
LAKE_EXPERIMENT_LOOKBACK_DAYS = env.int("LAKE_EXPERIMENT_LOOKBACK_DAYS", default=30)
LAKE_COMPRESSION = "zstd"
LAKE_LOCK_SECONDS = 3 * 60 * 60  # one export at a time; a crashed one frees the lock after this
# Nightly, after yesterday's rollup (00:30): yesterday's final day and today's so far.
CELERY_BEAT_SCHEDULE["insights-export-lake"] = {"task": "insights.tasks.export_lake",
                                                "schedule": crontab(minute=15, hour=1)}
# --- end of Insights: the lake -------------------------------------------------------------------

# --- Experiments: scheduled starts and stops (experiments.services.experiments_apply_schedule) ---
CELERY_BEAT_SCHEDULE["experiments-apply-schedule"] = {"task": "experiments.tasks.apply_schedule", "schedule": 60,
                                                      "options": {"expires": 55}}
# --- end of Experiments --------------------------------------------------------------------------

SPECTACULAR_SETTINGS = {
    "TITLE": "Bazaar API",
    "DESCRIPTION": "Storefront and marketplace API: catalog, sellers, offers and the buy box.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several resources have a "status" with their own values: each gets its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "ProductProposalStatusEnum": "marketplace.models.ProductProposal.Status",
        "InventoryUploadStatusEnum": "fulfillment.models.InventoryUpload.Status",
        "InboundShipmentStatusEnum": "fulfillment.models.InboundShipment.Status",
        "RemovalOrderStatusEnum": "fulfillment.models.RemovalOrder.Status",
        "PurchaseOrderStatusEnum": "fulfillment.models.PurchaseOrder.Status",
    },
}

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True


# --- Content-Security-Policy (django-csp) ------------------------------------------------
def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute URL; ``None`` for a relative one (same origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


STRIPE_JS_ORIGIN = "https://js.stripe.com"
_stripe_js_origin = _origin(STRIPE_JS_URL)
# Where product images come from when media is not on this origin (an absolute MEDIA_URL, S3).
_media_origins = [origin for origin in [_origin(MEDIA_URL)] if origin]
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    _bucket = env.str("AWS_STORAGE_BUCKET_NAME")
    _endpoint = env.str("AWS_S3_ENDPOINT_URL", default="")
    _region = env.str("AWS_S3_REGION_NAME", default="")
    if _endpoint:
        _media_origins.append(_origin(_endpoint) or _endpoint)
    else:
        _media_origins.append(f"https://{_bucket}.s3.amazonaws.com")
        if _region:
            _media_origins.append(f"https://{_bucket}.s3.{_region}.amazonaws.com")
CSP_IMG_ORIGINS = env.list("CSP_IMG_ORIGINS", default=_media_origins)

# No 'unsafe-inline' and no nonces for scripts: pages are cached whole (core.pagecache), so every
# script is a static file and nothing uses eval (htmx runs with allowEval off, see base.html).
# Stripe.js (script), its iframes (frame) and its API (connect) are allowed as Stripe documents it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": [
            "'self'",
            *([_stripe_js_origin] if _stripe_js_origin else []),
            *(["https://*.js.stripe.com"] if _stripe_js_origin == STRIPE_JS_ORIGIN else []),
        ],
        "frame-src": ["'self'", STRIPE_JS_ORIGIN, "https://*.js.stripe.com", "https://hooks.stripe.com"],
        "connect-src": ["'self'", "https://api.stripe.com"],
        "img-src": ["'self'", "data:", *CSP_IMG_ORIGINS],
        # Inline styles stay allowed: a style attribute cannot run code, and htmx, the admin and
        # Stripe.js set some.
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # A form posted here may be redirected to Stripe for 3-D Secure (the browser checks the
        # whole redirect chain against form-action).
        "form-action": ["'self'", "https://hooks.stripe.com"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Logging ----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if PRODUCTION else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_redis": {"level": "WARNING"},
    },
}

# --- Production guard (last: it reads the settings above) ------------------------------------
if PRODUCTION:
    refuse_unsafe_production(
        secret_key=SECRET_KEY,
        debug=DEBUG,
        allowed_hosts=ALLOWED_HOSTS,
        site_url=SITE_URL,
        payment_provider=PAYMENT_PROVIDER,
        stripe_secret_key=STRIPE_SECRET_KEY,
        stripe_publishable_key=STRIPE_PUBLISHABLE_KEY,
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
        test_carrier_secret=FULFILLMENT_TEST_CARRIER_SECRET,
        easypost_api_key=EASYPOST_API_KEY,
        easypost_webhook_secret=EASYPOST_WEBHOOK_SECRET,
    )
