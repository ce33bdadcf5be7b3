"""The symbol directory: company names, listings, aliases and suggestions."""

from __future__ import annotations

import pytest

from bot.domain.errors import ValidationError
from bot.domain.rules import SymbolDirectory, canonical_symbol, detect_tickers, name_forms
from bot.domain.rules.lexicon import AMBIGUOUS_NAMES, BARE_SYMBOL_STOPLIST
from bot.market.symbols import load_directory


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("Amazon.com Inc.", "Amazon"),
        ("Amazon.com, Inc.", "Amazon"),
        ("Microsoft Corporation", "Microsoft"),
        ("Alibaba Group Holding Limited", "Alibaba"),
        ("Apple Inc.", "Apple"),
        ("JPMorgan Chase & Co.", "JPMorgan Chase"),
        ("The Walt Disney Company", "Walt Disney"),
        ("Unilever plc", "Unilever"),
        ("Siemens AG", "Siemens"),
        ("ASML Holding N.V.", "ASML"),
        ("Banco Santander, S.A.", "Banco Santander"),
        ("Alphabet Inc. (Class A)", "Alphabet"),
        ("Berkshire Hathaway Inc. Class B", "Berkshire Hathaway"),
        ("Fox Corporation", "Fox"),
        ("Toyota Motor Corp", "Toyota"),
        ("Meta Platforms, Inc.", "Meta"),
        ("Cisco Systems, Inc.", "Cisco"),
        ("Dell Technologies Inc.", "Dell"),
    ],
)
def test_name_forms_strip_legal_suffixes(name: str, short: str) -> None:
    forms = name_forms(name)
    assert forms[-1] == short


@pytest.mark.parametrize(
    ("text", "symbol"), [("brk.b", "BRK-B"), ("$brk/b", "BRK-B"), ("shop.to", "SHOP.TO"), (" nvda ", "NVDA")]
)
def test_canonical_symbols(text: str, symbol: str) -> None:
    assert canonical_symbol(text) == symbol


@pytest.mark.parametrize("text", ["", "$", "1234", "TOOLONGX", "A B", "NV DA", "ÆØÅ"])
def test_malformed_symbols_are_errors(text: str) -> None:
    with pytest.raises(ValidationError, match="not a ticker symbol"):
        canonical_symbol(text)


def test_entries_sharing_a_name_are_one_company() -> None:
    d = SymbolDirectory.build(
        [("GOOGL", ["Alphabet Inc."]), ("GOOG", ["Alphabet Inc."]), ("AAPL", ["Apple Inc."])]
    )
    alphabet = d.company("GOOG")
    assert alphabet is not None
    assert alphabet.symbol == "GOOGL"
    assert alphabet.symbols == ("GOOGL", "GOOG")
    assert detect_tickers("Alphabet beats", d) == ("GOOGL",)
    assert detect_tickers("$GOOG beats", d) == ("GOOG",)


def test_everyday_word_names_need_a_company_context() -> None:
    d = SymbolDirectory.build([("MTCH", ["Match Group, Inc."]), ("TGT", ["Target Corporation"])])
    assert "general" in AMBIGUOUS_NAMES
    assert detect_tickers("A Match Made In Heaven", d) == ()
    assert detect_tickers("Match Group shares fall", d) == ("MTCH",)
    assert detect_tickers("Analyst Lifts Price Target", d) == ()
    assert detect_tickers("Target Price Raised At Jefferies", d) == ()
    assert detect_tickers("Target Corporation beats", d) == ("TGT",)
    assert detect_tickers("Target Shares Slide After Weak Outlook", d) == ("TGT",)
    assert detect_tickers("Investors flock to Target after upbeat forecast", d) == ("TGT",)


def test_a_short_name_two_companies_share_is_dropped_unless_an_alias_claims_it() -> None:
    entries = [("AAA", ["Acme Holdings"]), ("BBB", ["Acme Group"])]
    d = SymbolDirectory.build(entries)
    assert detect_tickers("Acme rises", d) == ()
    assert detect_tickers("Acme Holdings rises", d) == ("AAA",)
    claimed = SymbolDirectory.build(entries, {"BBB": ["Acme"]})
    assert detect_tickers("Acme rises", claimed) == ("BBB",)


def test_aliases_for_unknown_symbols_make_companies() -> None:
    d = SymbolDirectory.build([("AAPL", ["Apple Inc."])], {"RKLB": ["Rocket Lab"]})
    assert "RKLB" in d
    assert detect_tickers("Rocket Lab launches again", d) == ("RKLB",)
    assert detect_tickers("rocket lab launches again", d) == ()


def test_bad_alias_symbol_is_an_error() -> None:
    with pytest.raises(ValidationError, match="not a ticker symbol"):
        SymbolDirectory.build([], {"NOT A SYMBOL": ["x"]})


def test_suggest_names_the_nearest_symbols(directory: SymbolDirectory) -> None:
    assert directory.suggest("NVDAA")[0] == "NVDA"
    assert "MSFT" in directory.suggest("MSFTT")
    assert directory.suggest("NVIDIA")[0] == "NVDA"  # a company name typed as a symbol
    assert directory.suggest("Alphabet")[0] == "GOOGL"


def test_library_directory_covers_the_indices_it_ships(directory: SymbolDirectory) -> None:
    # S&P 500, Nasdaq-100, Dow, S&P 600, DAX, FTSE 100, Nikkei 225 ...
    for symbol in (
        "AAPL",
        "MSFT",
        "AMZN",
        "NVDA",
        "GOOGL",
        "GOOG",
        "BRK-B",
        "JPM",
        "KO",
        "SAP",
        "ASML",
        "AIN",
    ):
        assert symbol in directory, symbol
    assert len(directory) > 1500
    amazon = directory.company("AMZN")
    assert amazon is not None and "Amazon" in amazon.match_names
    msft = directory.company("MSFT")
    assert msft is not None and "Microsoft" in msft.match_names


def test_load_directory_is_cached_per_aliases() -> None:
    assert load_directory() is load_directory({})
    with_alias = load_directory({"BABA": ["Taobao"]})
    assert with_alias is load_directory({"BABA": ["Taobao"]})
    assert with_alias is not load_directory()
    assert detect_tickers("Taobao grows", with_alias) == ("BABA",)


def test_stop_list_words_are_upper_case_and_include_the_issue_examples() -> None:
    for word in ("AI", "IT", "US", "CEO", "ETF", "IPO", "ON", "ALL", "NOW"):
        assert word in BARE_SYMBOL_STOPLIST
    assert all(w == w.upper() for w in BARE_SYMBOL_STOPLIST)
    assert all(w == w.lower() for w in AMBIGUOUS_NAMES)
