"""The tokenizer and normaliser: words as both rules and stories see them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.rules import SymbolDirectory, compile_matcher, parse_term
from bot.domain.rules.tokens import _POSSESSIVE, _WORD, clean_text, stem, word_tokens, words
from bot.domain.text import html_to_text, normalize_for_matching
from tests.unit.rules.conftest import MatcherFactory


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Export-control rules", ["Export", "control", "rules"]),
        ("AI/cloud", ["AI", "cloud"]),
        ("Nvidia's chip", ["Nvidia", "chip"]),
        ("Nvidia Corp.'s A800 chip", ["Nvidia", "Corp", "A800", "chip"]),
        ("investors' money", ["investors", "money"]),
        ("don't panic", ["dont", "panic"]),
        ("snake_case words", ["snake", "case", "words"]),
        ("3.5% rise", ["3", "5", "rise"]),
        ("Société Générale", ["Société", "Générale"]),
        ("", []),
        ("... !!! ---", []),
    ],
)
def test_word_tokens(text: str, tokens: list[str]) -> None:
    assert word_tokens(text) == tokens


def test_clean_text_decodes_html_and_normalises_quotes_and_spaces() -> None:
    assert clean_text("Nvidia&rsquo;s&nbsp;<b>chip</b>", html=True) == "Nvidia's chip"
    assert word_tokens(clean_text("Lowe\u2019s\u00a0raises")) == ["Lowe", "raises"]
    assert clean_text("AT&amp;amp;T", html=True) == "AT&T"
    assert clean_text("AT&T and S&P 500", html=True) == "AT&T and S&P 500"
    assert word_tokens(clean_text("Nvi\u200bdia")) == ["Nvidia"]


_HTMLISH = st.sampled_from(
    [
        *"<>&;#x1ab AT’‘“\u00a0\u200b'/p=\"",
        *("&amp;", "&nbsp;", "<p>", "</b>", "&#39;", "&rsquo;", "&amp", "&copy"),
        *("AT&T", "S&P", "<script>x</script>", "&#x2019;", "<br/>", "&lt;b&gt;"),
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_HTMLISH, max_size=30).map("".join) | st.text(max_size=100))
def test_clean_text_gives_the_words_of_the_shared_normaliser(text: str) -> None:
    expected = word_tokens(normalize_for_matching(html_to_text(text)))
    assert word_tokens(clean_text(text, html=True)) == expected


def test_stems_join_inflections() -> None:
    assert stem("deliveries") == stem("delivery")
    assert stem("recalled") == stem("recall")
    assert stem("controls") == stem("control")
    assert stem("cloudflare") != stem("cloud")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=400))
def test_tokens_are_words_without_separators(text: str) -> None:
    for token in word_tokens(clean_text(text, html=True)):
        assert token
        assert not any(c.isspace() or c in "\x01\x02\x03_-/'\"" for c in token)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_words_are_lower_case_tokens(text: str) -> None:
    assert words(text) == [t.lower() for t in word_tokens(text.lower())]


_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=300, deadline=None)
@given(title=st.text(alphabet=_ALPHABET, max_size=300), summary=st.text(alphabet=_ALPHABET, max_size=600))
def test_matching_any_text_never_crashes(directory: SymbolDirectory, title: str, summary: str) -> None:
    from bot.domain.models import Watchlist

    matcher = _matcher(directory)
    result = matcher.match(title, summary)
    assert list(result.tickers) == sorted(set(result.tickers))
    for m in result.matches:
        assert m.watchlist in {w.name for w in matcher.watchlists}
    assert isinstance(Watchlist, type)


_cached: dict[int, object] = {}


def _matcher(directory: SymbolDirectory):  # type: ignore[no-untyped-def]
    from bot.domain.models import Watchlist

    key = id(directory)
    if key not in _cached:
        _cached[key] = compile_matcher(
            [
                Watchlist("a", tickers=("AMZN", "T"), keywords=("cloud", "export control", "sanction*")),
                Watchlist("b", query='($NVDA OR "entity list") AND NOT =opinion'),
                Watchlist("c", tickers=("ZZQX",), keywords=("é",), match="all", exclude=("podcast",)),
            ],
            directory,
        )
    return _cached[key]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda s: any(ch.isalnum() for ch in s) and "*" not in s))
def test_a_keyword_always_matches_text_made_of_itself(directory: SymbolDirectory, keyword: str) -> None:
    from bot.domain.models import Watchlist

    try:
        term = parse_term(keyword)
    except Exception:
        return
    if term.kind.value == "ticker":
        return
    matcher = compile_matcher([Watchlist("w", keywords=(keyword,))], directory)
    body = " ".join(term.words)
    assert [m.watchlist for m in matcher.match(body).matches] == ["w"], (keyword, body)


def test_phrase_does_not_cross_from_title_into_summary(make: MatcherFactory) -> None:
    m = make(dict(name="w", keywords=["export control"]))
    assert m.match("China restricts export", "Control of gallium tightens").matches == ()


def _regex_tokens(text: str) -> list[str]:
    """The tokenizer's definition, by regex: what the ASCII fast path must give."""
    if "'" in text:
        text = _POSSESSIVE.sub("", text)
    return [w.replace("'", "") for w in _WORD.findall(text)]


@settings(max_examples=1500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aZq09_'. -$:(),&\t\n\x1f\x7f's"), max_size=40) | st.text(max_size=80)
)
def test_ascii_fast_path_gives_the_regex_tokens(text: str) -> None:
    assert word_tokens(text) == _regex_tokens(text)


def test_apostrophe_patterns_equal_the_lookbehind_first_forms() -> None:
    """``_POSSESSIVE`` and ``_ASCII_JOIN`` start with the apostrophe (fast); they replace exactly
    what the plain forms with the lookbehind first replace."""
    import random
    import re

    from bot.domain.rules.tokens import _ASCII_JOIN

    plain_possessive = re.compile(r"(?<=[\w.])'[sS]?(?![^\W_])")
    plain_join = re.compile(r"(?<=[A-Za-z0-9])'(?=[A-Za-z0-9])")
    rng = random.Random(16)
    alphabet = "ab'sS. _-1é'\u2019x9Z"
    for _ in range(50_000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 14)))
        assert _POSSESSIVE.sub("\x00", text) == plain_possessive.sub("\x00", text), text
        assert _ASCII_JOIN.sub("", text) == plain_join.sub("", text), text
