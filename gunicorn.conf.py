"""gunicorn settings for Bazaar. The Docker image starts ``gunicorn -c gunicorn.conf.py``; gunicorn
also reads this file by itself when it is started from this directory.

Timeout: a request may take 60 s before its worker is replaced. The slowest thing a request waits
for is the payment provider: 3 s to connect plus ``PAYMENT_PROVIDER_TIMEOUT`` (8 s) to answer,
tried twice at most (``PAYMENT_PROVIDER_RETRIES`` = 1), about 23 s: well inside, so a slow
provider gives the shopper "try again" (the order keeps its key), never a killed worker.

Forwarded headers: one variable, ``TRUSTED_PROXIES``, says which reverse proxies may set them, for
gunicorn (which sets ``wsgi.url_scheme`` from ``X-Forwarded-Proto``) as for Django
(``core.middleware.TrustedProxyMiddleware``): a client talking to gunicorn directly cannot claim
HTTPS or another address. Empty (the default): no proxy is trusted.

Access logs never hold a query string. A guest's order link carries its token there
(``/orders/guest/?t=...``), and a token in a log file is a key to someone's order for anyone who
reads the logs. So the access log names the path only (``%(U)s``, not the request line ``%(r)s``),
leaves out the Referer (``%(f)s``, it may hold another site's query string), and the logger
below strips query strings from the atoms that could carry one, should the format be changed.
"""

import os

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None  # "-" (stdout) in the image
forwarded_allow_ips = ",".join(
    part.strip() for part in os.environ.get("TRUSTED_PROXIES", "").split(",") if part.strip()
)

# remote address, time, "METHOD /path PROTOCOL", status, bytes, user agent, seconds, request id
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s %({x-request-id}o)s'


def _without_query(uri: str) -> str:
    return (uri or "").split("?", 1)[0].split("#", 1)[0]


class AccessLogWithoutQueryStrings(Logger):
    """The access log's atoms without query strings: ``%(U)s`` is the path as the client sent it
    (still percent-encoded, so an encoded line break cannot forge a log line), ``%(r)s`` is the
    request line without its query, ``%(q)s`` is empty and ``%(f)s`` is the Referer without its
    query."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = _without_query(environ.get("RAW_URI", "")) or "-"
        atoms["U"] = path
        atoms["r"] = f"{environ.get('REQUEST_METHOD', '-')} {path} {environ.get('SERVER_PROTOCOL', '-')}"
        atoms["q"] = "-"
        atoms["f"] = _without_query(environ.get("HTTP_REFERER", "")) or "-"
        atoms["{referer}i"] = atoms["f"]
        atoms["{raw_uri}e"] = path
        atoms["{query_string}e"] = "-"
        atoms["{http_referer}e"] = atoms["f"]
        return atoms


logger_class = AccessLogWithoutQueryStrings
