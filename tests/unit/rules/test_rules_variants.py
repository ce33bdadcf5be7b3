"""Name variants: examples from SEC's list, and properties that hold for any name."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.domain.rules import SymbolDirectory, detect_tickers
from bot.domain.rules.lexicon import INDUSTRY_WORDS, LEGAL_SUFFIXES, ordinary_words
from bot.domain.rules.names import gate, name_forms, name_variants
from bot.domain.rules.symbols import SymbolName


@pytest.mark.parametrize(
    ("name", "forms"),
    [
        ("COSTCO WHOLESALE CORP /NEW", {"COSTCO WHOLESALE", "COSTCO"}),
        ("AMAZON COM INC", {"AMAZON"}),
        ("NVIDIA CORP", {"NVIDIA"}),
        ("Rocket Lab USA, Inc.", {"Rocket Lab"}),
        ("NOVO NORDISK A S", {"NOVO NORDISK"}),
        ("BANK OF AMERICA CORP /DE/", {"BANK OF AMERICA"}),
        ("Foo Pharmaceuticals, Inc.", {"Foo Pharmaceuticals", "Foo Pharma", "Foo"}),
        ("Foo Auto Parts Inc", {"Foo Auto Parts", "Foo Auto", "Foo"}),
        ("PETROLEO BRASILEIRO S.A. - PETROBRAS", {"PETROLEO BRASILEIRO", "PETROBRAS"}),
        ("ZIONS BANCORPORATION, NATIONAL ASSOCIATION /UT/", {"ZIONS BANCORPORATION", "ZIONS"}),
        ("Match Group, Inc.", {"Match Group", "Match"}),
        ("Fomento Economico Mexicano S.A.B. de C.V.", {"Fomento Economico Mexicano"}),
    ],
)
def test_sec_style_names_give_the_forms_news_uses(name: str, forms: set[str]) -> None:
    assert forms <= set(name_forms(name))


@pytest.mark.parametrize(
    ("name", "not_a_form"),
    [
        ("Texas Instruments Inc", "Texas"),  # a place
        ("Palo Alto Networks Inc", "Palo Alto"),
        ("Marathon Petroleum Corp", "Marathon"),  # an ordinary word
        ("Apple Hospitality REIT, Inc.", "Apple"),
        ("Seven & I Holdings Co.", "Seven"),
        ("U.S. Bancorp", "U.S."),
        ("First Solar, Inc.", "First"),
    ],
)
def test_short_forms_must_be_distinctive(name: str, not_a_form: str) -> None:
    assert not_a_form not in name_forms(name)


def test_ordinary_word_and_place_names_are_gated() -> None:
    assert gate("Target") == 1 and gate("Amazon") == 1 and gate("Ross") == 2
    assert gate("Nvidia") == 0 and gate("Rocket Lab") == 0 and gate("General") == 3


# ---------------------------------------------------------------- properties

LETTERS = "bcdfghjklmnpqrstvwxz"
VOWELS = "aeiou"


@st.composite
def coined(draw: st.DrawFn) -> str:
    """A made-up distinctive word (Zentrava, Quolix ...): not English, not a place."""
    n = draw(st.integers(2, 4))
    word = "".join(draw(st.sampled_from(LETTERS)) + draw(st.sampled_from(VOWELS)) for _ in range(n))
    word += draw(st.sampled_from(["x", "n", "r", "s", "l", ""]))
    assume(word not in ordinary_words() and gate(word) == 0)
    return word.capitalize()


legal = st.sampled_from(
    ["Inc.", "Inc", "Corp", "Corporation", "Co.", "Ltd", "plc", "N.V.", "S.A.", "SE", "AG", "L.P."]
)
industry = st.sampled_from(sorted(w.capitalize() for w in INDUSTRY_WORDS if len(w) > 3))
tag = st.sampled_from(["", " /DE/", " /NEW", "/"])


@given(coined(), st.lists(coined(), max_size=1), industry, legal, tag)
@settings(max_examples=200, deadline=None)
def test_variants_are_words_of_the_name_and_end_in_the_distinctive_core(
    core: str, more: list[str], ind: str, suffix: str, state: str
) -> None:
    base = " ".join([core, *more])
    name = f"{base} {ind}, {suffix}{state}"
    forms = name_forms(name)
    assert base in forms  # the industry word and the legal form dropped
    assert forms == tuple(sorted(forms, key=len, reverse=True))
    words = {w.lower().strip(",.") for w in name.replace("/", " ").split()}
    for v in name_variants(name):
        if v.how != "abbreviation":
            assert {w.lower().strip(",.") for w in v.text.split()} <= words, v
    assert all(v.text.split()[-1].lower().strip(".,") not in LEGAL_SUFFIXES for v in name_variants(name)[1:])


@given(coined(), industry, legal)
@settings(max_examples=150, deadline=None)
def test_shouting_names_give_the_same_forms(core: str, ind: str, suffix: str) -> None:
    name = f"{core} {ind} {suffix}"
    assert {f.lower() for f in name_forms(name.upper())} == {f.lower() for f in name_forms(name)}


@given(coined(), legal)
@settings(max_examples=100, deadline=None)
def test_a_legal_suffix_adds_forms_and_loses_none(core: str, suffix: str) -> None:
    plain = f"{core} Therapeutics"
    assert set(name_forms(plain)) <= set(name_forms(f"{plain} {suffix}"))


@given(coined(), industry, legal)
@settings(max_examples=60, deadline=None)
def test_a_company_is_found_by_its_short_form_stylised_and_possessive(
    core: str, ind: str, suffix: str
) -> None:
    directory = SymbolDirectory.from_records(
        [SymbolName("ZZQX", f"{core.upper()} {ind.upper()} {suffix.upper()}", "sec", "1")]
    )
    assert detect_tickers(f"{core} shares rise after earnings beat", directory) == ("ZZQX",)
    assert detect_tickers(f"{core.upper()} to cut jobs", directory) == ("ZZQX",)
    assert detect_tickers(f"Investors cheer {core}'s new product", directory) == ("ZZQX",)
    assert detect_tickers(f"{core.lower()} is a made-up word here", directory) == ()
