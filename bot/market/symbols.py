"""The symbol directory: the bundled index, SEC's company list and the quote source's names.

Three sources of company names, merged into one ``SymbolDirectory``:

- **bundled**: pytickersymbols (S&P 500, Nasdaq-100, Dow, S&P 600, DAX, FTSE 100, Nikkei 225
  ...). Offline and always there: the fallback, and the "well-known" companies whose bare
  symbols count anywhere. Listings kept per company: US exchanges, US OTC ADRs and the home
  listing abroad in Yahoo form (SAP.DE, 7203.T, BP.L).
- **sec**: SEC's ``company_tickers.json`` (about 10,000 US issuers: ticker, CIK, name such as
  "NVIDIA CORP" or "Costco Wholesale Corp /NEW"), fetched at most once per
  ``symbols.directory_interval`` (a day) with a conditional GET, from ``symbols.directory_url``
  (``false`` turns it off). SEC's fair-access policy asks for a User-Agent naming the
  operator and an e-mail address, and blocks requests without one: without ``ingest.contact``
  the list is not fetched and a log line says so.
- **quote**: the quote source's short and long names (Yahoo's ``shortName``/``longName``)
  of every watched ticker, refreshed at most once per ``symbols.quote_names_interval`` (a
  week).

The SEC and quote names live in the store (``symbol_names``), so every process - the running
bot, ``marketbot match``/``explain``/``symbols`` - builds the same directory from them.
``SymbolNames.refresh`` fetches what is due; ``SymbolNames.directory`` builds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final, Protocol

import aiohttp

import bot
from bot.config import SymbolsConfig
from bot.domain.errors import BotError, ValidationError
from bot.domain.rules.query import canonical_symbol
from bot.domain.rules.symbols import NameRefresh, SymbolDirectory, SymbolName
from bot.ports import Clock

log = logging.getLogger(__name__)

SEC: Final = "sec"
QUOTE: Final = "quote"
BUNDLED: Final = "bundled"
_MAX_BYTES: Final = 32 * 1024 * 1024
_RETRY_AFTER_ERROR: Final = timedelta(hours=1)

# exchanges whose Yahoo symbol we keep (the google prefix in pytickersymbols' data)
_US: Final = frozenset({"NYSE", "NASDAQ", "NYSEAMERICAN", "NYSEARCA", "BATS", "AMEX"})
_HOME: Final = frozenset(
    {"LON", "TYO", "AMS", "BME", "EPA", "ETR", "STO", "HEL", "EBR", "SWX", "BIT", "CPH", "OSL"}
)


# Well-known listings the bundled index lacks or names oddly (brands add short names).
EXTRA_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "GOOGL": ("Alphabet Inc.",),
    "META": ("Meta Platforms, Inc.",),
    "BABA": ("Alibaba Group Holding Limited",),
    "TSM": ("Taiwan Semiconductor Manufacturing Company Limited",),
    "BRK-B": ("Berkshire Hathaway Inc.",),
    "DIS": ("The Walt Disney Company",),
    "JPM": ("JPMorgan Chase & Co.",),
    "PG": ("Procter & Gamble",),
    "KO": ("The Coca-Cola Company",),
    "NFLX": ("Netflix, Inc.",),
    "AMD": ("Advanced Micro Devices, Inc.",),
    "DE": ("Deere & Company",),
}


class SymbolNameStore(Protocol):
    """What the directory needs from the store (``bot.store.symbols`` implements it)."""

    async def symbol_names(
        self, *, source: str | None = None, symbol: str | None = None
    ) -> list[SymbolName]: ...

    async def replace_symbol_names(
        self, source: str, names: Sequence[SymbolName], *, symbols: Sequence[str] | None = None, now: datetime
    ) -> int: ...

    async def symbol_refreshes(self, prefix: str = "") -> dict[str, NameRefresh]: ...

    async def save_symbol_refreshes(self, states: Sequence[NameRefresh]) -> None: ...


class CompanyNameSource(Protocol):
    """The quote source's names for symbols (``YahooQuoteSource.company_names``)."""

    async def company_names(self, symbols: Sequence[str]) -> dict[str, tuple[str, ...]]: ...


# ---------------------------------------------------------------- the bundled index


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
def bundled_records() -> tuple[SymbolName, ...]:
    """Every (symbol, name) of the bundled pytickersymbols index."""
    from pytickersymbols import PyTickerSymbols

    out: list[SymbolName] = []
    for stock in PyTickerSymbols().get_all_stocks():
        name = str(stock.get("name") or "").strip()
        if name:
            out.extend(SymbolName(sym, name, BUNDLED) for sym in _listings(stock))
    out.extend(SymbolName(sym, n, BUNDLED) for sym, names in EXTRA_NAMES.items() for n in names)
    return tuple(out)


def build_directory(
    stored: Sequence[SymbolName] = (), aliases: Mapping[str, Sequence[str]] | None = None
) -> SymbolDirectory:
    """The directory from the bundled index plus stored SEC and quote names and ``aliases``."""
    order = {SEC: 0, QUOTE: 1}
    rest = sorted((r for r in stored if r.source != BUNDLED), key=lambda r: order.get(r.source, 2))
    return SymbolDirectory.from_records([*bundled_records(), *rest], aliases)


@lru_cache(maxsize=8)
def _directory(aliases: tuple[tuple[str, tuple[str, ...]], ...]) -> SymbolDirectory:
    return build_directory((), dict(aliases))


def load_directory(aliases: Mapping[str, Sequence[str]] | None = None) -> SymbolDirectory:
    """The offline directory (bundled index, brands and ``aliases``); cached per aliases."""
    frozen = tuple(sorted((k, (v,) if isinstance(v, str) else tuple(v)) for k, v in (aliases or {}).items()))
    return _directory(frozen)


# ---------------------------------------------------------------- SEC's company list


def parse_company_tickers(payload: Any) -> list[SymbolName]:
    """SEC's ``company_tickers.json`` (``{"0": {"cik_str": 320193, "ticker": "AAPL", "title":
    "Apple Inc."}, ...}``) as name records; malformed rows are skipped, a file of another
    shape raises ValueError saying what was expected."""
    rows = payload.values() if isinstance(payload, dict) else None
    if rows is None:
        raise ValueError(
            'expected a JSON object of {"cik_str", "ticker", "title"} rows (company_tickers.json)'
        )
    out: list[SymbolName] = []
    bad = 0
    for row in rows:
        if not isinstance(row, dict):
            bad += 1
            continue
        ticker, title, cik = row.get("ticker"), row.get("title"), row.get("cik_str")
        if not isinstance(ticker, str) or not isinstance(title, str) or not title.strip():
            bad += 1
            continue
        try:
            sym = canonical_symbol(ticker)
        except ValidationError:
            bad += 1
            continue
        ident = str(cik) if isinstance(cik, int | str) and not isinstance(cik, bool) else None
        out.append(SymbolName(sym, " ".join(title.split())[:200], SEC, ident))
    if not out and bad:
        raise ValueError('no row has the {"cik_str", "ticker", "title"} shape of company_tickers.json')
    return out


@dataclass(frozen=True, slots=True)
class Fetched:
    """One conditional GET of the directory file."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


def user_agent(contact: str) -> str:
    """SEC's fair-access User-Agent: who runs the bot and how to reach them."""
    return f"marketbot/{bot.__version__} {contact}"


async def fetch_directory_file(
    url: str, *, contact: str, etag: str | None, last_modified: str | None, timeout: float = 60
) -> Fetched:
    """GET ``url`` with the operator's User-Agent, conditionally; raises BotError saying why
    when there is no usable answer (refused, rate-limited, too big, unreachable)."""
    headers = {
        "User-Agent": user_agent(contact),
        "Accept-Encoding": "gzip, deflate",
        "Accept": "application/json",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    limits = aiohttp.ClientTimeout(total=timeout, connect=min(15.0, timeout))
    try:
        async with (
            aiohttp.ClientSession(timeout=limits) as session,
            session.get(url, headers=headers, max_redirects=3) as resp,
        ):
            if resp.status == 304:
                return Fetched(304, etag=etag, last_modified=last_modified)
            if resp.status in (401, 403):
                raise BotError(
                    f"{url} refused the request ({resp.status}): SEC blocks requests whose User-Agent "
                    "names no operator; check that ingest.contact names you and an e-mail address"
                )
            if resp.status == 429:
                raise BotError(f"{url} is rate-limiting us (429); the next refresh tries again")
            if resp.status != 200:
                raise BotError(f"{url} answered HTTP {resp.status}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                body += chunk
                if len(body) > _MAX_BYTES:
                    raise BotError(f"{url} sent more than {_MAX_BYTES // 2**20} MiB; is it the right file?")
            return Fetched(200, bytes(body), resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise BotError(f"cannot fetch {url}: {reason}") from None


# ---------------------------------------------------------------- refreshing


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one refresh did, in lines for people, and whether any stored name changed."""

    lines: tuple[str, ...]
    changed: bool


class SymbolNames:
    """Keeps company names in the store fresh and builds the directory from them."""

    def __init__(
        self,
        store: SymbolNameStore,
        symbols: SymbolsConfig,
        *,
        aliases: Mapping[str, Sequence[str]],
        contact: str | None,
        clock: Clock,
        quotes: CompanyNameSource | None = None,
    ) -> None:
        """``symbols`` is the ``symbols:`` options, ``aliases`` the config's ticker aliases and
        ``contact`` ``ingest.contact`` (SEC asks requests to name their operator)."""
        self.store = store
        self._cfg = symbols
        self._aliases = aliases
        self._contact = contact
        self.clock = clock
        self.quotes = quotes
        self._lock = asyncio.Lock()

    async def directory(self) -> SymbolDirectory:
        """The directory from the bundled index, the stored names and the config's aliases."""
        stored = await self.store.symbol_names()
        return await asyncio.to_thread(build_directory, stored, self._aliases)

    async def refresh(self, symbols: Sequence[str], *, force: bool = False) -> RefreshReport:
        """Fetch what is due: SEC's list (daily) and quote names of ``symbols`` (weekly);
        ``force`` fetches both now. Never raises for a source that fails: its line says why."""
        async with self._lock:
            lines: list[str] = []
            changed = False
            for step in (self._refresh_sec(force), self._refresh_quotes(symbols, force)):
                line, did_change = await step
                lines.append(line)
                changed = changed or did_change
            return RefreshReport(tuple(lines), changed)

    async def _refresh_sec(self, force: bool) -> tuple[str, bool]:
        cfg = self._cfg
        url = cfg.directory_url
        if url is None:
            return "SEC company list: off (symbols.directory_url: false); using the bundled index", False
        contact = self._contact
        if not contact:
            return (
                "SEC company list: not fetched - SEC blocks requests that name no operator; set "
                "ingest.contact (e.g. 'Acme Research ops@acme.example') to fetch it; using the bundled index"
            ), False
        now = self.clock.now()
        state = (await self.store.symbol_refreshes(SEC)).get(SEC)
        if state is not None and not force and not self._due(state, float(cfg.directory_interval), now):
            return f"SEC company list: fresh (checked {_ago(now, state.checked_at)}; {state.status})", False
        etag = state.etag if state is not None and state.succeeded_at is not None else None
        modified = state.last_modified if state is not None and state.succeeded_at is not None else None
        try:
            got = await fetch_directory_file(url, contact=contact, etag=etag, last_modified=modified)
            if got.status == 304:
                status = state.status if state is not None and not state.status.startswith("error:") else ""
                status = status or "unchanged since the last fetch"
                await self.store.save_symbol_refreshes([NameRefresh(SEC, now, now, etag, modified, status)])
                return f"SEC company list: unchanged since the last fetch ({status})", False
            try:
                names = await asyncio.to_thread(parse_company_tickers, json.loads(got.body))
            except (ValueError, UnicodeDecodeError) as exc:
                raise BotError(f"{url} is not SEC's company_tickers.json: {exc}") from None
        except BotError as exc:
            failed = NameRefresh(
                SEC,
                now,
                state.succeeded_at if state else None,
                etag,
                modified,
                f"error: {exc}",
            )
            await self.store.save_symbol_refreshes([failed])
            log.warning("symbol directory: %s; keeping the names already stored", exc)
            return f"SEC company list: {exc}; kept the names already stored", False
        changes = await self.store.replace_symbol_names(SEC, names, now=now)
        issuers = len({n.ident or n.symbol for n in names})
        status = f"{len(names):,} tickers of {issuers:,} issuers"
        await self.store.save_symbol_refreshes(
            [NameRefresh(SEC, now, now, got.etag, got.last_modified, status)]
        )
        log.info("symbol directory: SEC company list fetched: %s, %d changes", status, changes)
        return f"SEC company list: fetched {status}; {changes:,} names added or removed", changes > 0

    async def _refresh_quotes(self, symbols: Sequence[str], force: bool) -> tuple[str, bool]:
        cfg = self._cfg
        if not cfg.quote_names or self.quotes is None:
            return "quote names: off", False
        wanted = sorted({s for s in symbols if s})
        if not wanted:
            return "quote names: no watched tickers", False
        now = self.clock.now()
        states = await self.store.symbol_refreshes(f"{QUOTE}:")
        due = [
            s
            for s in wanted
            if force
            or (state := states.get(f"{QUOTE}:{s}")) is None
            or self._due(state, float(cfg.quote_names_interval), now)
        ]
        if not due:
            return f"quote names: fresh for all {len(wanted)} watched tickers", False
        try:
            found = await self.quotes.company_names(due)
        except BotError as exc:
            log.warning("symbol directory: quote names for %d tickers: %s; trying again later", len(due), exc)
            await self.store.save_symbol_refreshes(
                [
                    NameRefresh(
                        f"{QUOTE}:{s}",
                        now,
                        (states.get(f"{QUOTE}:{s}") or NameRefresh("", now)).succeeded_at,
                        status=f"error: {exc}",
                    )
                    for s in due
                ]
            )
            return f"quote names: {exc}; trying again later", False
        names = [SymbolName(s, n, QUOTE) for s, ns in found.items() for n in ns]
        changes = await self.store.replace_symbol_names(QUOTE, names, symbols=due, now=now)
        await self.store.save_symbol_refreshes(
            [
                NameRefresh(
                    f"{QUOTE}:{s}",
                    now,
                    now,
                    status=f"{len(found[s])} names" if s in found else "unknown to the quote source",
                )
                for s in due
            ]
        )
        missing = [s for s in due if s not in found]
        tail = f"; unknown to the quote source: {', '.join(missing)}" if missing else ""
        return f"quote names: {len(found)} of {len(due)} tickers named{tail}", changes > 0

    @staticmethod
    def _due(state: NameRefresh, interval: float, now: datetime) -> bool:
        failed = state.status.startswith("error:")
        refused = failed and ("refused" in state.status or "rate-limiting" in state.status)
        wait = (
            timedelta(seconds=interval)
            if not failed or refused
            else min(timedelta(seconds=interval), _RETRY_AFTER_ERROR)
        )
        return now - state.checked_at >= wait


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"
