"""Watchlist rules in the config file: errors at load time, warnings for unknown tickers."""

from __future__ import annotations

import textwrap

import pytest

from bot.app import config_warnings
from bot.config import parse_config, watchlist_warnings
from bot.domain.errors import ConfigError
from bot.domain.rules import SymbolDirectory, compile_matcher
from bot.market.symbols import load_directory


def config(watchlists: str, extra: str = "") -> str:
    return "watchlists:\n" + textwrap.indent(textwrap.dedent(watchlists), "  ") + textwrap.dedent(extra)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="bot.yaml")
    return str(info.value)


def test_the_issue_example_loads_and_matches(directory: SymbolDirectory) -> None:
    cfg = parse_config(
        config(
            """\
            - name: cloud-china
              tickers: [AMZN, MSFT, BABA]
              keywords: ["export control", cloud]
              exclude: [podcast]
              match: any
            - name: chips-policy
              query: '($NVDA OR $AMD) AND ("export control" OR sanction* OR "entity list") AND NOT opinion'
            """,
            """\
            aliases:
              BABA: [Alibaba]
            """,
        )
    )
    matcher = compile_matcher(cfg.domain_watchlists(), load_directory(cfg.aliases), cfg.aliases)
    result = matcher.match("Alibaba and Nvidia face new US export controls")
    assert [m.watchlist for m in result.matches] == ["cloud-china", "chips-policy"]
    assert matcher.problems == ()


def test_malformed_query_error_names_the_key_and_column() -> None:
    text = config(
        """\
        - name: ok
          keywords: [cloud]
        - name: broken
          query: 'cloud AND chips OR aim)'
        """
    )
    message = error_of(text)
    assert "bot.yaml:5: watchlists[1].query: unexpected ')' at 23" in message


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("'(cloud OR chips'", "watchlists[0].query: missing ')' to close the '(' at 1"),
        ("'cloud AND'", "watchlists[0].query: AND at 7 needs a term after it"),
        ("'\"export control'", "watchlists[0].query: unclosed quote"),
        ("'NOT opinion'", "watchlists[0].query: the query matches stories that contain none of its terms"),
        ("'$12 OR cloud'", "watchlists[0].query: '$12' at 1 is not a ticker symbol"),
    ],
)
def test_query_errors(query: str, message: str) -> None:
    assert message in error_of(config(f"- name: w\n  query: {query}\n"))


def test_query_cannot_be_mixed_with_tickers_keywords_or_match() -> None:
    message = error_of(config("- name: w\n  query: cloud\n  tickers: [AMZN]\n  match: all\n"))
    assert "watchlists[0]: 'query' replaces tickers, match" in message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("- name: w\n  keywords: ['!!!']\n", "watchlists[0].keywords[0]: '!!!' is empty or only punctuation"),
        ("- name: w\n  keywords: ['']\n", "watchlists[0].keywords[0]: '' is empty or only punctuation"),
        ("- name: w\n  keywords: [cloud]\n  exclude: ['--']\n", "watchlists[0].exclude[0]"),
        (
            "- name: w\n  keywords: ['x*']\n",
            "watchlists[0].keywords[0]: term 'x*': a prefix needs at least 2 letters",
        ),
        ("- name: w\n  keywords: ['\"sanction*\"']\n", "'*' works on a single unquoted word"),
        ("- name: w\n  keywords: ['$']\n", "watchlists[0].keywords[0]: '$' is empty or only punctuation"),
        ("- name: w\n", "a watchlist needs tickers, keywords or a query"),
        ("- name: w\n  tickers: []\n  keywords: []\n", "a watchlist needs tickers, keywords or a query"),
        ("- name: w\n  tickers: ['NV DA']\n", "watchlists[0].tickers[0]: 'NV DA' is not a ticker symbol"),
        (
            "- name: w\n  tickers: [AMZN]\n  match: all\n",
            "match: all means a ticker AND a keyword, but there are no keywords",
        ),
    ],
)
def test_bad_watchlists_are_config_errors(body: str, message: str) -> None:
    assert message in error_of(config(body))


def test_unknown_but_well_formed_ticker_is_a_warning_naming_the_nearest_symbols() -> None:
    cfg = parse_config(
        config(
            """\
            - name: w
              tickers: [NVDAA, MSFT]
              keywords: ['$RKLB']
            - name: q
              query: '$ZZQX AND cloud'
            """
        )
    )
    warnings = watchlist_warnings(cfg, load_directory(cfg.aliases))
    assert len(warnings) == 3
    assert warnings[0].startswith(
        "watchlists[0].tickers[0]: NVDAA is not in the symbol directory; did you mean NVDA"
    )
    assert "still matched as $NVDAA" in warnings[0]
    assert warnings[1].startswith("watchlists[0].keywords[0]: RKLB is not in the symbol directory")
    assert warnings[2].startswith("watchlists[1].query: ZZQX is not in the symbol directory")
    assert config_warnings(cfg) == warnings


def test_a_ticker_with_an_alias_is_known() -> None:
    cfg = parse_config(config("- name: w\n  tickers: [RKLB]\n", "aliases:\n  RKLB: [Rocket Lab]\n"))
    assert config_warnings(cfg) == []


def test_alias_without_letters_is_a_config_error() -> None:
    assert "aliases: BABA: alias '--' has no letters or digits" in error_of(
        config("- name: w\n  tickers: [BABA]\n", "aliases:\n  BABA: ['--']\n")
    )
