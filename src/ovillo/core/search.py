"""Full-text search terms, the same on SQLite (FTS5) and PostgreSQL (tsvector).

The first users write Spanish: "canción" must be found by "cancion" and the other way
round, "Núñez" by "nunez". Both sides fold text the same way before comparing: lower
case, accents off.

- SQLite: FTS5 tables with ``tokenize = "unicode61 remove_diacritics 2"`` fold the indexed
  text; ``fts5_match`` folds the terms.
- PostgreSQL: GIN indexes over ``to_tsvector('simple', ovillo_fold(...))``, where
  ``ovillo_fold`` is an IMMUTABLE SQL function (``lower`` then ``translate`` of accented
  letters; made by the search migration, no extension needed) so the index can hold it;
  ``tsquery_text`` folds the terms. The ``simple`` configuration does not stem: a word is
  matched as a prefix instead ("envio" finds "envíos"), in any language.

Every term is a prefix ("canc" finds "canción"), all terms must match. Terms are kept to
letters and digits, so a query can never inject FTS5 or tsquery syntax.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

FOLD_FUNCTION: Final = "ovillo_fold"
MAX_TERMS: Final = 8

# What ``ovillo_fold`` translates on PostgreSQL, after lower(): the accented letters of
# Spanish, Portuguese, French and German, and their plain forms.
FOLD_FROM: Final = "áàâäãåéèêëíìîïóòôöõúùûüñçýÿ"
FOLD_TO: Final = "aaaaaaeeeeiiiiooooouuuuncyy"

# Letters and digits; everything else (underscores too) separates words, as in FTS5.
_TERM = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case without accents: "Canción Ñandú" -> "cancion nandu"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_terms(query: str) -> list[str]:
    """The folded words of ``query`` (letters and digits), at most ``MAX_TERMS``."""
    unique = list(dict.fromkeys(_TERM.findall(fold(query))))
    return unique[:MAX_TERMS]


def fts5_match(terms: list[str], *, column: str | None = None) -> str:
    """An FTS5 MATCH expression: every term, as a prefix (``"cancion"* "hola"*``); with
    ``column``, in that column only (``body : ("cancion"* "hola"*)``)."""
    expression = " ".join(f'"{term}"*' for term in terms)
    return f"{column} : ({expression})" if column else expression


def tsquery_text(terms: list[str]) -> str:
    """A ``to_tsquery('simple', ...)`` text: every term, as a prefix (``cancion:* & hola:*``)."""
    return " & ".join(f"{term}:*" for term in terms)
