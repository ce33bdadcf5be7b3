"""The rule engine: watchlists of tickers and keywords, queries, ticker detection.

Pure (no I/O, no SDK). ``compile_matcher`` turns every watchlist into one ``Matcher``;
``parse_query`` / ``parse_term`` validate user input with column-precise errors;
``SymbolDirectory`` knows symbols and company names (``bot.market.symbols`` loads it).
"""

from __future__ import annotations

from bot.domain.rules.matcher import (
    Explanation,
    Matcher,
    MatchResult,
    TermReport,
    TickerMention,
    compile_matcher,
    detect_tickers,
    validate_watchlist,
)
from bot.domain.rules.query import (
    Query,
    Term,
    TermKind,
    canonical_symbol,
    parse_query,
    parse_term,
    symbol_form,
)
from bot.domain.rules.symbols import Company, SymbolDirectory, name_forms

__all__ = [
    "Company",
    "Explanation",
    "MatchResult",
    "Matcher",
    "Query",
    "SymbolDirectory",
    "Term",
    "TermKind",
    "TermReport",
    "TickerMention",
    "canonical_symbol",
    "compile_matcher",
    "detect_tickers",
    "name_forms",
    "parse_query",
    "parse_term",
    "symbol_form",
    "validate_watchlist",
]
