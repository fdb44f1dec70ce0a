"""PostgreSQL search: pg_trgm, a trigger that keeps products.search_vector, and GIN indexes.

Does nothing on SQLite (the simple search backend needs none of it).
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE OR REPLACE FUNCTION catalog_product_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(
            (SELECT name FROM catalog_brand WHERE id = NEW.brand_id), '')), 'B') ||
        setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS catalog_product_search_vector_trg ON catalog_product;
CREATE TRIGGER catalog_product_search_vector_trg
    BEFORE INSERT OR UPDATE OF title, description, brand_id ON catalog_product
    FOR EACH ROW EXECUTE FUNCTION catalog_product_search_vector();

CREATE INDEX IF NOT EXISTS catalog_product_search_gin ON catalog_product USING gin (search_vector);
CREATE INDEX IF NOT EXISTS catalog_product_title_trgm ON catalog_product USING gin (title gin_trgm_ops);
"""

BACKWARD = """
DROP INDEX IF EXISTS catalog_product_title_trgm;
DROP INDEX IF EXISTS catalog_product_search_gin;
DROP TRIGGER IF EXISTS catalog_product_search_vector_trg ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_search_vector();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
