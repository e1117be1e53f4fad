"""Opt-out replies: a contact who answers with one of the workspace's words ("STOP", "baja")
stops receiving marketing. Pure: plain values in, plain values out.

A reply matches when, once folded, it *is* the word: case, accents, surrounding spaces and
punctuation do not count ("  Baja. " is "baja", "CANCELÁR" is "cancelar"), but a sentence
that contains the word does not ("no quiero darme de baja" is a conversation, not an
opt-out).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final

DEFAULT_OPT_OUT_WORDS: Final[tuple[str, ...]] = ("STOP", "baja", "parar", "cancelar")
MAX_WORDS: Final = 20
MAX_WORD_LENGTH: Final = 40
# A reply longer than this cannot be one of the words: no folding needed.
MAX_REPLY_LENGTH: Final = MAX_WORD_LENGTH + 10
_TRIMMED: Final = string.whitespace + string.punctuation + "¡¿…“”«»"


def fold(text: str) -> str:
    """``text`` without accents, case, surrounding punctuation or repeated spaces."""
    bare = _without_marks(_without_marks(text).casefold())  # casefold may compose anew
    # Words first (str.split knows every Unicode space, such as U+001F), then the edges.
    return " ".join(bare.split()).strip(_TRIMMED)


def _without_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def clean_opt_out_words(words: Iterable[str]) -> list[str]:
    """The words as the business wrote them, stripped, without blanks or duplicates (by
    their folded form); ``ValueError`` naming the first bad one."""
    cleaned: list[str] = []
    seen: set[str] = set()
    for word in words:
        stripped = " ".join(word.split())
        folded = fold(stripped)
        if not folded:
            if stripped:
                raise ValueError(f"{word!r} has no letters or digits")
            continue
        if len(stripped) > MAX_WORD_LENGTH:
            raise ValueError(f"{word[:20]!r}... is longer than {MAX_WORD_LENGTH} characters")
        if folded not in seen:
            seen.add(folded)
            cleaned.append(stripped)
    if len(cleaned) > MAX_WORDS:
        raise ValueError(f"at most {MAX_WORDS} words")
    return cleaned


def matched_opt_out_word(text: str | None, words: Sequence[str]) -> str | None:
    """The word ``text`` is (as the business wrote it), or None."""
    if not text or len(text) > MAX_REPLY_LENGTH:
        return None
    reply = fold(text)
    if not reply:
        return None
    return next((word for word in words if fold(word) == reply), None)
