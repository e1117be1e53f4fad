"""The numbers pages' words for Meta's figures and refusals, in English and Spanish."""

from __future__ import annotations

import pytest

from ovillo.channels.errors import AccessTokenRefusedError, MetaRefusedError
from ovillo.channels.views import meta_words, quality_figure, tier_words
from ovillo.web.i18n import Translator

EN = Translator(locale="en")
ES = Translator(locale="es")


@pytest.mark.parametrize(
    ("tier", "english", "spanish"),
    [
        ("TIER_250", "250 customers a day", "250 clientes al día"),
        ("TIER_2K", "2,000 customers a day", "2.000 clientes al día"),
        ("TIER_100K", "100,000 customers a day", "100.000 clientes al día"),
        ("TIER_UNLIMITED", "Unlimited customers a day", "Clientes ilimitados al día"),
        ("TIER_NOT_SET", "Not set yet", "Sin definir aún"),
        (None, "Not set yet", "Sin definir aún"),
        ("TIER_NEW_FROM_META", "TIER_NEW_FROM_META", "TIER_NEW_FROM_META"),
    ],
)
def test_tiers_read_as_customers_a_day(tier: str | None, english: str, spanish: str) -> None:
    assert tier_words(EN, tier) == english
    assert tier_words(ES, tier) == spanish


@pytest.mark.parametrize(
    ("rating", "label", "tone"),
    [("GREEN", "High", "good"), ("YELLOW", "Medium", "warn"), ("RED", "Low", "bad"),
     ("UNKNOWN", "Not rated yet", "neutral"), (None, "Not rated yet", "neutral")],
)  # fmt: skip
def test_quality_has_words_and_a_colour(rating: str | None, label: str, tone: str) -> None:
    figure = quality_figure(EN, rating)
    assert (figure.label, figure.tone) == (label, tone)


@pytest.mark.parametrize(
    ("error", "field", "english", "spanish"),
    [
        (AccessTokenRefusedError("x", meta_code=190), "", "access token (code 190)",
         "token de acceso (código 190)"),
        (MetaRefusedError("x", meta_code=100), "waba_id", "WhatsApp Business Account",
         "cuenta de WhatsApp Business"),
        (MetaRefusedError("x", meta_code=100), "phone_number_id", "phone number id",
         "identificador del número"),
        (MetaRefusedError("x", meta_code=133005), "", "The PIN does not match",
         "El PIN no coincide"),
        (MetaRefusedError("Meta said so", meta_code=131999), "", "(code 131999): Meta said so",
         "(código 131999): Meta said so"),
    ],
)  # fmt: skip
def test_meta_refusals_in_plain_words(
    error: MetaRefusedError, field: str, english: str, spanish: str
) -> None:
    assert english in meta_words(EN, error, field=field)
    assert spanish in meta_words(ES, error, field=field)
