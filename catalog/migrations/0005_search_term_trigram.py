"""Trigram index on the search dictionary and a first fill from existing products (PostgreSQL)."""

from django.db import migrations

FORWARD = """
CREATE INDEX IF NOT EXISTS catalog_searchterm_word_trgm ON catalog_searchterm USING gin (word gin_trgm_ops);
INSERT INTO catalog_searchterm (word)
SELECT word FROM ts_stat('SELECT to_tsvector(''simple'', title) FROM catalog_product')
WHERE length(word) BETWEEN 3 AND 64 AND word ~ '^[[:alpha:]]+$'
ON CONFLICT (word) DO NOTHING;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_searchterm_word_trgm;")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_search_term")]

    operations = [migrations.RunPython(forward, backward)]
