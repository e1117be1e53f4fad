"""Opt-out replies: which texts are one of the workspace's words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.contacts.opt_out import (
    DEFAULT_OPT_OUT_WORDS,
    MAX_WORDS,
    clean_opt_out_words,
    fold,
    matched_opt_out_word,
)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Stop  ", "STOP"),
        ("stop.", "STOP"),
        ("¡Baja!", "baja"),
        ("BAJA", "baja"),
        ("Parar\n", "parar"),
        ("cancelár", "cancelar"),
        ("CANCELAR 🙏", None),  # an emoji is not punctuation: not the bare word
        ("no quiero darme de baja", None),
        ("stopp", None),
        ("bajar", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("s t o p", None),
        ("stop" * 40, None),
    ],
)
def test_a_reply_matches_only_when_it_is_the_word(text: str | None, word: str | None) -> None:
    assert matched_opt_out_word(text, DEFAULT_OPT_OUT_WORDS) == word


def test_custom_words_with_spaces_and_accents() -> None:
    words = ["Darme de baja", "ÉXITO"]
    assert matched_opt_out_word("darme  de BAJA", words) == "Darme de baja"
    assert matched_opt_out_word("exito", words) == "ÉXITO"
    assert matched_opt_out_word("stop", words) is None


def test_cleaning_keeps_the_business_spelling_and_drops_repeats() -> None:
    assert clean_opt_out_words([" STOP ", "stop", "", "Baja", "bajá", "No  más"]) == [
        "STOP",
        "Baja",
        "No más",
    ]
    with pytest.raises(ValueError, match="no letters"):
        clean_opt_out_words(["!!"])
    with pytest.raises(ValueError, match="longer"):
        clean_opt_out_words(["x" * 41])
    with pytest.raises(ValueError, match="at most"):
        clean_opt_out_words([f"w{n}" for n in range(MAX_WORDS + 1)])


@given(st.sampled_from(DEFAULT_OPT_OUT_WORDS), st.sampled_from(["", " ", "!", ".", "\t"]))
def test_case_and_surroundings_never_matter(word: str, around: str) -> None:
    for variant in (word.upper(), word.lower(), word.title()):
        assert matched_opt_out_word(f"{around}{variant}{around}", DEFAULT_OPT_OUT_WORDS) == word


@given(st.text(max_size=60))
def test_folding_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)
