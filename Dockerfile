# Bazaar production image: gunicorn + whitenoise, production settings, not root.
# Build: docker build -t bazaar .   Run: see docker-compose.yml (the secrets it requires).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_ENV=production

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 bazaar

WORKDIR /app
# The runtime dependencies only, every one pinned with its hashes (generated: `make requirements`).
COPY requirements.txt .
RUN pip install -r requirements.txt

# .dockerignore keeps .env, .git, var/, .venv and test artefacts out of the image.
COPY . .
# collectstatic imports the production settings, which refuse to load without strong secrets and a
# real payment provider: give it throw-away values that exist only for this one command (a fresh
# random key, nothing kept in the image). The real ones come from the environment at run time.
RUN DJANGO_ENV=production \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    ALLOWED_HOSTS=build.invalid \
    SITE_URL=https://build.invalid \
    PAYMENT_PROVIDER=stripe \
    STRIPE_SECRET_KEY=unused-at-build \
    STRIPE_PUBLISHABLE_KEY=unused-at-build \
    STRIPE_WEBHOOK_SECRET=unused-at-build \
    FULFILLMENT_TEST_CARRIER_SECRET="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media /app/var/private \
    && chown -R bazaar:bazaar /app/var

USER bazaar
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# gunicorn.conf.py: 60 s timeout, access log without query strings, forwarded headers trusted only
# from TRUSTED_PROXIES.
ENV GUNICORN_ACCESSLOG=-
CMD ["gunicorn", "-c", "gunicorn.conf.py", "shop.wsgi:application"]
