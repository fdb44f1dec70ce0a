"""Demo data for trying the shop: ``python manage.py seed_demo`` (see :mod:`shop.demo.seed`)."""
