# Bazaar production image: gunicorn + whitenoise. Build: docker build -t bazaar .
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
COPY requirements/ requirements/
RUN pip install -r requirements/base.txt

COPY . .
# collectstatic needs a secret to import settings; it is not used at runtime.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R bazaar:bazaar /app/var

USER bazaar
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", "-c", "gunicorn.conf.py", "shop.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--forwarded-allow-ips", "*"]
