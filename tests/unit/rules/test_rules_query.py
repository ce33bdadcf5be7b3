"""The term and query parser: what it accepts, how it reads it, and errors that point at the column."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.errors import ValidationError
from bot.domain.rules import TermKind, parse_query, parse_term
from bot.domain.rules.query import render


@pytest.mark.parametrize(
    ("text", "kind", "words", "shown"),
    [
        ("cloud", TermKind.WORD, ("cloud",), "cloud"),
        ("Cloud", TermKind.WORD, ("cloud",), "Cloud"),
        ('"cloud"', TermKind.WORD, ("cloud",), "cloud"),
        ("export control", TermKind.PHRASE, ("export", "control"), "export control"),
        ('"export control"', TermKind.PHRASE, ("export", "control"), "export control"),
        ("export-control", TermKind.PHRASE, ("export", "control"), "export-control"),
        ("sanction*", TermKind.PREFIX, ("sanction",), "sanction*"),
        ("=cloud", TermKind.EXACT, ("cloud",), "=cloud"),
        ('="export control"', TermKind.EXACT, ("export", "control"), '="export control"'),
        ("Lowe's", TermKind.WORD, ("lowe",), "Lowe's"),
        ("don't", TermKind.WORD, ("dont",), "don't"),
    ],
)
def test_term_kinds(text: str, kind: TermKind, words: tuple[str, ...], shown: str) -> None:
    term = parse_term(text)
    assert (term.kind, term.words, term.text) == (kind, words, shown)


@pytest.mark.parametrize(
    ("text", "symbol"), [("$NVDA", "NVDA"), ("$nvda", "NVDA"), ("$BRK.B", "BRK-B"), ("$SHOP.TO", "SHOP.TO")]
)
def test_ticker_terms(text: str, symbol: str) -> None:
    term = parse_term(text)
    assert term.kind is TermKind.TICKER
    assert term.symbol == symbol


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty term"),
        ("   ", "empty term"),
        ("!!!", "term '!!!' has no letters or digits"),
        ("--", "has no letters or digits"),
        ("$", "'$' needs a ticker symbol after it"),
        ("$12345", "'$12345' is not a ticker symbol"),
        ("$TOOLONGSYM", "is not a ticker symbol"),
        ("x*", "a prefix needs at least 2 letters"),
        ('"sanction*"', "'*' works on a single unquoted word"),
        ("export control*", "'*' works on a single word"),
        ("sanc*tion", "'*' may only end a word"),
        ("=sanction*", "either =word (exact) or word* (prefix)"),
    ],
)
def test_bad_terms_say_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=__import__("re").escape(message)):
        parse_term(text)


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("cloud", "cloud"),
        ("cloud chips", "(cloud AND chips)"),
        ("cloud AND chips", "(cloud AND chips)"),
        ("cloud and chips", "(cloud AND chips)"),
        ("a OR b AND c", "(a OR (b AND c))"),
        ("(a OR b) AND c", "((a OR b) AND c)"),
        ("a AND NOT b", "(a AND NOT b)"),
        ("a NOT b", "(a AND NOT b)"),
        ('$NVDA "export control"', '($NVDA AND "export control")'),
        ('"and" OR "or"', '("and" OR "or")'),
        (
            '($NVDA OR $AMD) AND ("export control" OR sanction* OR "entity list") AND NOT opinion',
            '(($NVDA OR $AMD) AND ("export control" OR sanction* OR "entity list") AND NOT opinion)',
        ),
        ("=recall OR recall*", "(=recall OR recall*)"),
        ("NOT NOT cloud", "NOT NOT cloud"),
    ],
)
def test_query_structure(query: str, tree: str) -> None:
    assert render(parse_query(query).root) == tree


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("($NVDA OR $AMD) AND cloud) AND chips", "unexpected ')' at 26"),
        ("cloud)", "unexpected ')' at 6"),
        (")", "unexpected ')' at 1"),
        ("(cloud OR chips", "missing ')' to close the '(' at 1"),
        ("cloud AND (", "missing ')' to close the '(' at 11"),
        ("cloud AND", "AND at 7 needs a term after it"),
        ("cloud OR OR chips", "unexpected OR at 10"),
        ("AND cloud", "unexpected AND at 1"),
        ('"export control', "unclosed quote '\"' at 1"),
        ('cloud AND "export', "unclosed quote '\"' at 11"),
        ("cloud AND ()", "empty parentheses at 11"),
        ("", "the query is empty"),
        ("   ", "the query is empty"),
        ("NOT opinion", "add a term that must be present"),
        ("cloud AND $", "'$' at 11 needs a ticker symbol"),
        ("cloud AND !!!", "term '!!!' at 11 has no letters or digits"),
        ("cloud OR $12", "'$12' at 10 is not a ticker symbol"),
        ("a*", "a prefix needs at least 2 letters"),
    ],
)
def test_query_errors_point_at_the_column(query: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_query(query)
    assert message in str(info.value)


def test_query_error_column_matches_the_issue_example() -> None:
    query = "($NVDA OR $AMD) AND cloud) OR chips"
    assert query.index(")", 15) + 1 == 26
    with pytest.raises(ValidationError, match=r"^unexpected '\)' at 26"):
        parse_query(query)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ValidationError, match="nests too deeply"):
        parse_query("(" * 100 + "cloud" + ")" * 100)
    with pytest.raises(ValidationError, match="nests too deeply"):
        parse_query("NOT " * 100 + "cloud AND chips")


def test_overlong_query_is_refused() -> None:
    with pytest.raises(ValidationError, match="longer than"):
        parse_query("cloud OR " * 1000 + "chips")


def test_query_terms_listed_once() -> None:
    q = parse_query("cloud OR (cloud AND $NVDA) OR ($NVDA AND NOT cloud)")
    assert [t.text for t in q.terms] == ["cloud", "$NVDA"]


# ---------------------------------------------------------------- properties

_pieces = st.sampled_from(
    [
        "AND",
        "OR",
        "NOT",
        "and",
        "(",
        ")",
        '"',
        "$",
        "*",
        "=",
        "cloud",
        "$NVDA",
        "export-control",
        " ",
        "é",
        "’",
        "\u00a0",
        "_",
        "-",
        "'",
    ]
)
_query_like = st.lists(_pieces, max_size=40).map(" ".join) | st.lists(_pieces, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300) | _query_like)
def test_parser_never_crashes_and_only_raises_validation_errors(text: str) -> None:
    try:
        query = parse_query(text)
    except ValidationError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    # a query that parses renders to a query that parses to the same tree
    again = parse_query(render(query.root))
    assert render(again.root) == render(query.root)
    assert query.terms


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_term_parser_never_crashes(text: str) -> None:
    try:
        term = parse_term(text)
    except ValidationError as exc:
        assert str(exc)
        return
    assert term.text
    assert term.kind is TermKind.TICKER or term.words


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="()", max_size=60))
def test_column_of_a_stray_parenthesis_is_real(text: str) -> None:
    try:
        parse_query(text)
    except ValidationError as exc:
        import re

        m = re.search(r" at (\d+)", str(exc))
        if m:
            assert 1 <= int(m.group(1)) <= len(text) + 1
