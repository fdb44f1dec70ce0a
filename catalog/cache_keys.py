"""Cache namespaces of catalog pages (see core.cache for how versioned keys work)."""

CATALOG = "catalog"  # category tree, brands, attributes: anything every page shows
LISTING = "listing"  # anything a listing (home, category, search) shows


def product(slug: str) -> str:
    return f"product:{slug}"
