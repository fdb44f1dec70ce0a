"""gunicorn settings of the Docker image (``gunicorn --config shop/gunicorn_conf.py shop.wsgi``).

One variable, ``TRUSTED_PROXIES``, says which reverse proxies may set forwarded headers, for
gunicorn (which sets ``wsgi.url_scheme`` from ``X-Forwarded-Proto``) as for Django
(``core.middleware.TrustedProxyMiddleware``): a client talking to gunicorn directly cannot claim
HTTPS or another address. Empty (the default): no proxy is trusted.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
forwarded_allow_ips = ",".join(
    part.strip() for part in os.environ.get("TRUSTED_PROXIES", "").split(",") if part.strip()
)
