"""Meta's per-message rate cards: what a delivered template costs, by market and category.

Per-message pricing (from 2025-07-01) charges each delivered template by its category and
the market of the recipient's number. Rates are in USD, Meta's list prices before volume
tiers (utility and authentication get cheaper with volume; not modelled here) and before
authentication-international rates. A market is a country with its own rates or a region
("Rest of Latin America"); a country not listed in any region is priced as "Other".

The card of 2025-07-01 is Meta's published list (cross-checked against partners' copies of
it; the region membership of a few small territories is unverified). Later cards are added
here with their date: ``rate_card_at`` picks the one in force on a day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Final

__all__ = [
    "CURRENCY",
    "RATE_CARDS",
    "MarketRates",
    "RateCard",
    "market_of",
    "rate_card_at",
]

CURRENCY: Final = "USD"


@dataclass(frozen=True, slots=True)
class MarketRates:
    marketing: Decimal
    utility: Decimal
    authentication: Decimal

    def for_category(self, category: str) -> Decimal:
        """The rate of a template category (MARKETING, UTILITY, AUTHENTICATION; any case)."""
        key = category.strip().lower()
        if key == "marketing":
            return self.marketing
        if key == "utility":
            return self.utility
        if key in ("authentication", "authentication_international"):
            return self.authentication
        raise ValueError(f"no per-message rate for category {category!r}")


def _rates(marketing: str, utility: str, authentication: str) -> MarketRates:
    return MarketRates(Decimal(marketing), Decimal(utility), Decimal(authentication))


@dataclass(frozen=True, slots=True)
class RateCard:
    effective_from: date
    markets: Mapping[str, MarketRates]

    def rates_for(self, country: str | None) -> tuple[str, MarketRates]:
        """The market of an ISO country (None: unknown) and its rates."""
        market = market_of(country)
        return market, self.markets.get(market, self.markets["Other"])


# Markets with their own rates, by ISO country.
_COUNTRY_MARKETS: Final = MappingProxyType(
    {
        "AR": "Argentina", "BR": "Brazil", "CL": "Chile", "CO": "Colombia", "EG": "Egypt",
        "FR": "France", "DE": "Germany", "IN": "India", "ID": "Indonesia", "IL": "Israel",
        "IT": "Italy", "MY": "Malaysia", "MX": "Mexico", "NL": "Netherlands", "NG": "Nigeria",
        "PK": "Pakistan", "PE": "Peru", "RU": "Russia", "SA": "Saudi Arabia",
        "ZA": "South Africa", "ES": "Spain", "TR": "Turkey", "AE": "United Arab Emirates",
        "GB": "United Kingdom", "US": "North America", "CA": "North America",
    }
)  # fmt: skip

_REGIONS: Final = {
    "Rest of Africa": "DZ AO BJ BW BF BI CM CV CF TD KM CG CD CI DJ GQ ER SZ ET GA GM GH GN GW "
    "KE LS LR LY MG MW ML MR MU MA MZ NA NE RW ST SN SC SL SO SS SD TZ TG TN UG ZM ZW",
    "Rest of Asia Pacific": "AF AU BD BT BN KH CN FJ HK JP KZ KG LA MO MV MN MM NP NZ PG PH SG "
    "LK TW TJ TH TL TM UZ VN KR",
    "Rest of Central & Eastern Europe": "AL AM AZ BY BA BG HR CZ EE GE HU XK LV LT MK MD ME PL "
    "RO RS SK SI UA",
    "Rest of Latin America": "AI AG AW BS BB BZ BM BO BQ KY CR CU CW DM DO EC SV GD GP GT GY HT "
    "HN JM MQ MS NI PA PY PR KN LC VC SX SR TT TC UY VE VG VI",
    "Rest of Middle East": "BH IQ JO KW LB OM QA YE PS",
    "Rest of Western Europe": "AD AT BE CY DK FI GI GR IS IE LI LU MT MC NO PT SM SE CH VA FO",
}
_REGION_OF: Final = MappingProxyType(
    {country: region for region, codes in _REGIONS.items() for country in codes.split()}
)


def market_of(country: str | None) -> str:
    """The pricing market of an ISO 3166 alpha-2 country; "Other" when unknown."""
    code = (country or "").strip().upper()
    return _COUNTRY_MARKETS.get(code) or _REGION_OF.get(code) or "Other"


RATE_CARDS: Final[tuple[RateCard, ...]] = (
    RateCard(
        effective_from=date(2025, 7, 1),
        markets=MappingProxyType(
            {
                "Argentina": _rates("0.0618", "0.0289", "0.0289"),
                "Brazil": _rates("0.0625", "0.0068", "0.0068"),
                "Chile": _rates("0.0889", "0.0200", "0.0200"),
                "Colombia": _rates("0.0125", "0.0008", "0.0008"),
                "Egypt": _rates("0.0644", "0.0036", "0.0036"),
                "France": _rates("0.0859", "0.0300", "0.0300"),
                "Germany": _rates("0.1365", "0.0550", "0.0550"),
                "India": _rates("0.0107", "0.0014", "0.0014"),
                "Indonesia": _rates("0.0411", "0.0250", "0.0250"),
                "Israel": _rates("0.0353", "0.0053", "0.0053"),
                "Italy": _rates("0.0691", "0.0300", "0.0300"),
                "Malaysia": _rates("0.0860", "0.0140", "0.0140"),
                "Mexico": _rates("0.0305", "0.0085", "0.0085"),
                "Netherlands": _rates("0.1597", "0.0500", "0.0500"),
                "Nigeria": _rates("0.0516", "0.0067", "0.0067"),
                "Pakistan": _rates("0.0473", "0.0054", "0.0054"),
                "Peru": _rates("0.0703", "0.0200", "0.0200"),
                "Russia": _rates("0.0802", "0.0400", "0.0400"),
                "Saudi Arabia": _rates("0.0455", "0.0115", "0.0115"),
                "South Africa": _rates("0.0379", "0.0076", "0.0076"),
                "Spain": _rates("0.0615", "0.0200", "0.0200"),
                "Turkey": _rates("0.0109", "0.0053", "0.0053"),
                "United Arab Emirates": _rates("0.0384", "0.0157", "0.0157"),
                "United Kingdom": _rates("0.0529", "0.0220", "0.0220"),
                "North America": _rates("0.0250", "0.0034", "0.0034"),
                "Rest of Africa": _rates("0.0225", "0.0040", "0.0040"),
                "Rest of Asia Pacific": _rates("0.0732", "0.0113", "0.0113"),
                "Rest of Central & Eastern Europe": _rates("0.0860", "0.0212", "0.0212"),
                "Rest of Latin America": _rates("0.0740", "0.0113", "0.0113"),
                "Rest of Middle East": _rates("0.0341", "0.0091", "0.0091"),
                "Rest of Western Europe": _rates("0.0592", "0.0171", "0.0171"),
                "Other": _rates("0.0604", "0.0077", "0.0077"),
            }
        ),
    ),
)


def rate_card_at(day: date) -> RateCard:
    """The card in force on ``day`` (the first card for days before it: per-message
    estimates of older dates use the earliest per-message prices)."""
    current = RATE_CARDS[0]
    for card in RATE_CARDS:
        if card.effective_from <= day:
            current = card
    return current
