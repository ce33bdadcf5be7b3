"""The symbol directory from pytickersymbols (every index it ships) plus config aliases.

pytickersymbols loads its bundled data in a few milliseconds and building the directory
takes a few tens more, so there is no precomputed file: the directory is built on first use
and cached per set of aliases. Listings kept per company: US exchanges (NYSE, Nasdaq and
the S&P 600 entries without an exchange prefix), US OTC ADRs and the home listing abroad in
Yahoo form (SAP.DE, 7203.T, BP.L). Frankfurt duplicates and London IOB codes (0ABC.L) are
left out: news never names them and they would only add noise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from bot.config import BotConfig, watchlist_warnings
from bot.domain.rules.symbols import SymbolDirectory, SymbolName

# exchanges whose Yahoo symbol we keep (the google prefix in pytickersymbols' data)
_US: Final = frozenset({"NYSE", "NASDAQ", "NYSEAMERICAN", "NYSEARCA", "BATS", "AMEX"})
_HOME: Final = frozenset(
    {"LON", "TYO", "AMS", "BME", "EPA", "ETR", "STO", "HEL", "EBR", "SWX", "BIT", "CPH", "OSL"}
)

# Names the library does not carry but news uses all the time (config aliases add more).
EXTRA_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "GOOGL": ("Google",),
    "META": ("Meta", "Facebook"),
    "BABA": ("Alibaba Group Holding Limited",),
    "TSM": ("Taiwan Semiconductor Manufacturing Company Limited", "TSMC"),
    "BRK-B": ("Berkshire",),
    "DIS": ("Disney",),
    "JPM": ("JPMorgan", "JP Morgan"),
    "PG": ("Procter & Gamble",),
    "KO": ("Coca-Cola",),
    "NFLX": ("Netflix",),
    "AMD": ("Advanced Micro Devices",),
    "DE": ("Deere & Company", "Deere"),
}


def _listings(stock: Mapping[str, Any]) -> Iterator[str]:
    raw = stock.get("symbol")
    primary = raw if isinstance(raw, str) else ""
    seen: list[str] = []
    us: list[str] = []
    other: list[str] = []
    for listing in stock.get("symbols") or ():
        yahoo = str(listing.get("yahoo") or "").strip()
        google = str(listing.get("google") or "").strip()
        if not yahoo or (yahoo.startswith("0") and yahoo.endswith(".L")):
            continue
        exchange = google.split(":", 1)[0] if ":" in google else ""
        if exchange in _US or (not exchange and google == yahoo):
            us.append(yahoo)
        elif exchange in _HOME or exchange == "OTCMKTS":
            other.append(yahoo)
    # a US listing first: it is what US news cites and what quotes use in US sessions
    seen.extend(us[:1])
    keep_primary = bool(primary) and (primary in us or "." in primary or "-" in primary)
    if keep_primary and primary not in seen:
        seen.append(primary)
    for sym in us + other:
        if sym not in seen:
            seen.append(sym)
    if not seen and primary and not primary[:1].isdigit():
        seen.append(primary)
    yield from seen


@lru_cache(maxsize=1)
def _library_entries() -> tuple[tuple[str, tuple[str, ...]], ...]:
    from pytickersymbols import PyTickerSymbols

    entries: list[tuple[str, tuple[str, ...]]] = []
    for stock in PyTickerSymbols().get_all_stocks():
        name = str(stock.get("name") or "").strip()
        if not name:
            continue
        for sym in _listings(stock):
            entries.append((sym, (name,)))
    for sym, names in EXTRA_NAMES.items():
        entries.append((sym, names))
    return tuple(entries)


@lru_cache(maxsize=8)
def _directory(aliases: tuple[tuple[str, tuple[str, ...]], ...]) -> SymbolDirectory:
    records = [SymbolName(sym, n, "bundled") for sym, names in _library_entries() for n in names]
    return SymbolDirectory.from_records(records, dict(aliases))


def load_directory(aliases: Mapping[str, Sequence[str]] | None = None) -> SymbolDirectory:
    """The symbol directory with ``aliases`` (symbol -> extra company names); cached."""
    frozen = tuple(sorted((k, (v,) if isinstance(v, str) else tuple(v)) for k, v in (aliases or {}).items()))
    return _directory(frozen)


def config_warnings(config: BotConfig) -> list[str]:
    """Warnings about a valid config (unknown tickers, with the nearest known symbols)."""
    return watchlist_warnings(config, load_directory(config.aliases))
