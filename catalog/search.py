"""Search backends behind one interface.

* ``PostgresSearchBackend``: full-text ranking on a stored ``tsvector`` (title weighted over
  brand over description), falling back to trigram word similarity on the title when the
  words match nothing, which forgives typos ("kettel" finds "kettle").
* ``SimpleSearchBackend``: every word must appear in the title, brand or description; used on
  SQLite, where neither full-text nor trigrams exist. When the words match nothing, misspelt
  ones are corrected from the same dictionary of title and brand words, by closeness of spelling
  (Python's difflib) over the dictionary words of about the same length.

The backend is chosen by ``settings.SEARCH_BACKEND`` ("postgres" or "simple"), else by the
database in use. An OpenSearch backend would implement the same two methods.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from typing import Protocol

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Length

from catalog.models import SearchTerm

MAX_QUERY_LENGTH = 200
TRIGRAM_THRESHOLD = 0.4


_WORD = re.compile(r"[^\W\d_]+")


def dictionary_words(text: str) -> set[str]:
    """The words of ``text`` worth keeping in the correction dictionary (letters only, 3-64)."""
    return {w for w in _WORD.findall((text or "").lower()) if 3 <= len(w) <= 64}


def normalize_query(text: str) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text[:MAX_QUERY_LENGTH]


class SearchBackend(Protocol):
    def plan(self, queryset: QuerySet, text: str) -> tuple[str, str]:
        """Decide once per request how ``text`` will be matched: (mode, text to match)."""

    def search(self, queryset: QuerySet, text: str, *, mode: str, rank: bool = True) -> QuerySet:
        """Narrow ``queryset`` to products matching ``text``; order by relevance if ``rank``."""


SIMPLE_CLOSENESS = 0.75  # difflib's ratio a dictionary word needs to replace a misspelt one


class SimpleSearchBackend:
    def plan(self, queryset: QuerySet, text: str) -> tuple[str, str]:
        """("words", text) when its words match something; else ("words", corrected) when correcting
        misspelt words finds something ("hedphones" -> "headphones")."""
        text = normalize_query(text)
        if not text or self.search(queryset, text, rank=False).exists():
            return "words", text
        corrected = self.correct(text)
        if corrected != text and self.search(queryset, corrected, rank=False).exists():
            return "words", corrected
        return "words", text

    def correct(self, text: str) -> str:
        """Replace each word that is not in the dictionary by its closest dictionary word of about
        its length (one query for all words)."""
        words = [w for w in text.lower().split(" ") if w][:10]
        candidates = {w for w in words if _WORD.fullmatch(w) and 3 <= len(w) <= 64}
        if not candidates:
            return text
        shortest, longest = min(map(len, candidates)) - 2, max(map(len, candidates)) + 2
        known = list(SearchTerm.objects.annotate(size=Length("word"))
                     .filter(size__gte=shortest, size__lte=longest).values_list("word", flat=True))
        known_set = set(known)
        best = {}
        for word in candidates - known_set:
            near = [k for k in known if abs(len(k) - len(word)) <= 2]
            found = difflib.get_close_matches(word, near, n=1, cutoff=SIMPLE_CLOSENESS)
            if found:
                best[word] = found[0]
        return " ".join(best.get(w, w) for w in words) if best else text

    def search(self, queryset: QuerySet, text: str, *, mode: str = "words", rank: bool = True) -> QuerySet:
        words = [w for w in normalize_query(text).split(" ") if w][:10]
        for word in words:
            queryset = queryset.filter(
                Q(title__icontains=word) | Q(brand__name__icontains=word) | Q(description__icontains=word)
            )
        if rank:
            queryset = queryset.order_by("-in_stock", "-rating_count", "id")
        return queryset


class PostgresSearchBackend:
    config = "english"

    def _query(self, text: str) -> SearchQuery:
        return SearchQuery(text, search_type="websearch", config=self.config)

    def plan(self, queryset: QuerySet, text: str) -> tuple[str, str]:
        """How to match ``text``: ("fts", text) when its words match something; else
        ("fts", corrected) when correcting misspelt words from the dictionary of title and
        brand words finds something ("kettel" -> "kettle"); else ("fuzzy", text), trigram
        similarity to titles."""
        text = normalize_query(text)
        if not text or queryset.filter(search_vector=self._query(text)).exists():
            return "fts", text
        corrected = self.correct(text)
        if corrected != text and queryset.filter(search_vector=self._query(corrected)).exists():
            return "fts", corrected
        return "fuzzy", text

    def correct(self, text: str) -> str:
        """Replace each word that is not in the dictionary by its closest dictionary word
        (trigram similarity); one query for all words, served by a trigram index."""
        words = [w for w in re.split(r"\s+", text.lower()) if w][:10]
        candidates = [w for w in words if _WORD.fullmatch(w) and 3 <= len(w) <= 64]
        if not candidates:
            return text
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT q.w, t.word
                FROM unnest(%s::text[]) AS q(w)
                CROSS JOIN LATERAL (
                    SELECT word FROM catalog_searchterm
                    WHERE word = q.w OR word %% q.w
                    ORDER BY word = q.w DESC, similarity(word, q.w) DESC, word
                    LIMIT 1
                ) AS t
                """,
                [candidates],
            )
            best = dict(cursor.fetchall())
        return " ".join(best.get(w, w) for w in words)

    def search(self, queryset: QuerySet, text: str, *, mode: str = "fts", rank: bool = True) -> QuerySet:
        text = normalize_query(text)
        if not text:
            return queryset
        query = self._query(text)
        if mode == "fts":
            matches = queryset.filter(search_vector=query)
            if rank:
                matches = matches.annotate(rank=SearchRank(F("search_vector"), query)).order_by(
                    "-rank", "-in_stock", "id"
                )
            return matches
        # No word matched: forgive typos by trigram similarity of the words to the title.
        self._set_threshold()
        fuzzy = queryset.filter(title__trigram_word_similar=text)
        if rank:
            fuzzy = fuzzy.annotate(similarity=TrigramWordSimilarity(text, "title")).order_by(
                "-similarity", "-in_stock", "id"
            )
        return fuzzy

    def _set_threshold(self) -> None:
        # A session setting: set once per database connection. Set inside a transaction, a
        # rollback undoes it, so only a setting made outside one is remembered.
        if getattr(connection.connection, "_bazaar_trgm", False):
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)", [str(TRIGRAM_THRESHOLD)]
            )
        if not connection.in_atomic_block:
            with contextlib.suppress(AttributeError):  # driver objects without attributes
                connection.connection._bazaar_trgm = True


def get_search_backend() -> SearchBackend:
    name = settings.SEARCH_BACKEND or ("postgres" if connection.vendor == "postgresql" else "simple")
    return PostgresSearchBackend() if name == "postgres" else SimpleSearchBackend()
