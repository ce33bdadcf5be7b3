"""The one place that talks to yfinance: sessions, loopback routing, caches, raw fetches.

Every function here is blocking and runs in a worker thread (see ``bot.market.pool``);
nothing in it knows about asyncio. What we rely on in yfinance 1.x, and why:

* ``Ticker(symbol, session=...)`` accepts a curl_cffi ``Session`` (yfinance rejects other
  session types). ``RoutedSession`` (see ``routed_session``) is one, so yfinance keeps its browser impersonation,
  cookie and crumb handling, and we add two things at the lowest level: every request's
  timeout is capped (a blackholed network then frees the worker thread soon after our
  deadline instead of after yfinance's 30 s per request, several requests in a row), and,
  when a base URL is given (``MARKETBOT_YAHOO_URL``), every Yahoo host (query1/query2,
  fc.yahoo.com, finance.yahoo.com, the consent hosts) is rewritten to it. That is how tests
  and end-to-end runs point the real yfinance at a Yahoo-shaped server on 127.0.0.1.
* yfinance keeps a process-wide ``YfData`` singleton (session, cookie, crumb). Sharing it
  would let one source's failures, or a test's fake server, leak into another source, so
  each ``YahooTransport`` builds its own ``YfData`` and hands it to the tickers it creates.
  (Should a future yfinance rename ``Ticker._data``, the tickers simply fall back to the
  singleton, which was given our session too.)
* yfinance has no public multi-symbol quote call; ``Ticker.info`` reads the v7 quote
  endpoint one symbol at a time. ``quote_batch`` calls that same endpoint through
  ``YfData`` (same session, cookie and crumb) with many symbols per request.
* yfinance's on-disk caches (time zones, cookies) are pointed at ``cache_dir`` before the
  first request, never the user's home directory.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.domain.errors import SourceError, ValidationError

log = logging.getLogger(__name__)

QUOTE_URL = "https://query1.finance.yahoo.com/v7/finance/quote"
YAHOO_HOSTS = frozenset(
    {
        "query1.finance.yahoo.com",
        "query2.finance.yahoo.com",
        "fc.yahoo.com",
        "finance.yahoo.com",
        "guce.yahoo.com",
        "consent.yahoo.com",
    }
)
BATCH_SIZE = 50  # symbols per v7 request; Yahoo accepts more, but long URLs get refused by proxies


@functools.cache
def _routed_session_class() -> type[Any]:
    """``RoutedSession``, defined at its first use: curl_cffi is a tenth of a second of imports."""
    from curl_cffi import requests as curl_requests

    class RoutedSession(curl_requests.Session):  # type: ignore[type-arg]
        """A curl_cffi session that caps every request's timeout and can reroute Yahoo's hosts.

        ``base_url`` (e.g. ``http://127.0.0.1:8765``) replaces scheme and host of every Yahoo
        URL while keeping path and query, and sends the original host as ``X-Forwarded-Host``.
        """

        def __init__(self, *, max_timeout: float, base_url: str | None = None) -> None:
            super().__init__(impersonate="chrome", timeout=max_timeout)
            self.max_timeout = max_timeout
            self.route_to = _check_base_url(base_url) if base_url else None

        def request(self, method: Any, url: str, *args: Any, **kwargs: Any) -> Any:
            kwargs["timeout"] = self._cap(kwargs.get("timeout"))
            if self.route_to is not None:
                url, host = self._reroute(url)
                if host:
                    headers = dict(kwargs.get("headers") or {})
                    headers["X-Forwarded-Host"] = host
                    kwargs["headers"] = headers
            return super().request(method, url, *args, **kwargs)

        def _cap(self, timeout: Any) -> Any:
            cap = self.max_timeout
            if isinstance(timeout, int | float) and not isinstance(timeout, bool):
                return min(float(timeout), cap)
            if isinstance(timeout, tuple) and len(timeout) == 2:
                return tuple(min(float(t), cap) if isinstance(t, int | float) else cap for t in timeout)
            return cap

        def _reroute(self, url: str) -> tuple[str, str | None]:
            assert self.route_to is not None
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            if host not in YAHOO_HOSTS:
                return url, None
            base = urlsplit(self.route_to)
            path = base.path.rstrip("/") + (parts.path or "/")
            return urlunsplit((base.scheme, base.netloc, path, parts.query, "")), host

    return RoutedSession


def routed_session(*, max_timeout: float, base_url: str | None = None) -> Any:
    """A curl_cffi session that caps every request's timeout and can reroute Yahoo's hosts."""
    return _routed_session_class()(max_timeout=max_timeout, base_url=base_url)


def _check_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"Yahoo base URL {url!r} is not an http(s) URL; write e.g. http://127.0.0.1:8765"
        )
    return url.strip().rstrip("/")


_cache_lock = threading.Lock()
_cache_dir: Path | None = None


def default_cache_dir() -> Path:
    """Where yfinance's time-zone and cookie caches go unless told otherwise (not $HOME)."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"marketbot-yfinance-{uid}"


def configure_cache(path: Path | None) -> Path:
    """Point yfinance's on-disk caches at ``path`` (process-wide, first call wins)."""
    global _cache_dir
    with _cache_lock:
        if _cache_dir is not None:
            return _cache_dir
        target = path or default_cache_dir()
        target.mkdir(parents=True, exist_ok=True)
        from bot.market.sessions import IMPORT_LOCK

        with IMPORT_LOCK:  # not beside a calendar build, which swaps the warning filters
            import yfinance as yf
            from yfinance.data import YfData  # noqa: F401 - imported here, under the lock

        yf.set_tz_cache_location(str(target))
        # yfinance 1.7 on pandas 3 warns about its own deprecated calls; not actionable for us
        warnings.filterwarnings("ignore", message=r".*inplace keyword.*", module=r"yfinance(\..*)?$")
        # We want yfinance's errors as exceptions (we report them ourselves) rather than
        # ERROR log lines and empty results; marketbot is the only yfinance user in its process.
        yf.config.debug.hide_exceptions = False
        # yfinance warns about every cookie/crumb hiccup; the failed quote already says so
        logging.getLogger("yfinance").setLevel(logging.ERROR)
        _cache_dir = target
        return target


# ---------------------------------------------------------------------- raw results


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price and when it traded (tz-aware UTC)."""

    price: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What Yahoo told us about one symbol, before our session rules are applied.

    ``regular``/``pre``/``post`` come from the v7 quote fields; a chart snapshot sets
    ``last`` (the latest 1-minute bar, session unknown until the calendar classifies it).
    """

    symbol: str
    source: str  # "quote" (v7 batch) or "chart" (v8 1-minute bars)
    name: str | None = None
    currency: str | None = None
    quote_type: str | None = None
    regular: PricePoint | None = None
    previous_close: float | None = None
    pre: PricePoint | None = None
    post: PricePoint | None = None
    last: PricePoint | None = None
    volume: int | None = None
    market_state: str | None = None


@dataclass(frozen=True, slots=True)
class Bars:
    """One session's 1-minute closes (extended hours included) and its reference prices."""

    symbol: str
    times: tuple[datetime, ...]
    closes: tuple[float, ...]
    previous_close: float | None
    regular: PricePoint | None
    name: str | None = None
    currency: str | None = None
    exchange_tz: str | None = None

    @property
    def last(self) -> PricePoint:
        """The latest bar's close and time (the bars must not be empty)."""
        return PricePoint(self.closes[-1], self.times[-1])

    def snapshot(self) -> Snapshot:
        """The chart's view of the symbol: its latest bar, session not yet classified."""
        return Snapshot(
            symbol=self.symbol,
            source="chart",
            name=self.name,
            currency=self.currency,
            regular=self.regular,
            previous_close=self.previous_close,
            last=self.last,
        )


class NoPrices(SourceError):
    """Yahoo answered but had no prices (e.g. before anything traded today); worth a retry."""


class NotFound(SourceError):
    """Yahoo says the symbol does not exist (delisted or mistyped): a definitive answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


# ---------------------------------------------------------------------- transport


class YahooTransport:
    """Our own yfinance session + ``YfData`` + tickers. Methods block; call them from threads.

    yfinance (and pandas behind it, a second or more of imports) is loaded at the first request,
    in the worker thread that makes it, not when the transport is built: start-up does not wait
    for it.
    """

    def __init__(self, *, timeout: float, base_url: str | None = None, cache_dir: Path | None = None) -> None:
        self.timeout = timeout
        self.base_url = _check_base_url(base_url) if base_url else None
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._tickers: dict[str, Any] = {}
        self._session: Any = None
        self._data: Any = None

    def _current(self) -> tuple[Any, Any]:
        """The session and ``YfData`` in use, made at the first call (which imports yfinance)."""
        with self._lock:
            if self._session is not None:
                return self._session, self._data
        with self._start_lock:
            with self._lock:
                if self._session is not None:
                    return self._session, self._data
            self.reset()
        with self._lock:
            assert self._session is not None
            return self._session, self._data

    def reset(self) -> None:
        """Drop cookie, crumb and tickers: start over with a fresh session (after failures)."""
        configure_cache(self._cache_dir)
        from yfinance.data import YfData

        session = routed_session(max_timeout=self.timeout, base_url=self.base_url)
        data = YfData.__new__(YfData)  # our own instance, not the process-wide singleton
        data.__init__(session=session)
        with self._lock:
            old = self._session
            self._session, self._data, self._tickers = session, data, {}
        if old is not None:
            try:
                old.close()
            except Exception:  # a thread may still be using it; it dies with its timeout
                log.debug("closing the previous Yahoo session failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            session = self._session
            self._tickers = {}
        if session is None:  # never used: nothing was opened
            return
        try:
            session.close()
        except Exception:
            log.debug("closing the Yahoo session failed", exc_info=True)

    def ticker(self, symbol: str) -> Any:
        """A cached ``yf.Ticker`` bound to our session and ``YfData``."""
        self._current()
        with self._lock:
            t = self._tickers.get(symbol)
            session, data = self._session, self._data
        if t is not None:
            return t
        import yfinance as yf

        t = yf.Ticker(symbol, session=session)
        if hasattr(t, "_data"):
            t._data = data
        with self._lock:
            return self._tickers.setdefault(symbol, t)

    def forget(self, symbol: str) -> None:
        """Throw away ``symbol``'s Ticker: after a failure a reused one gives misleading errors.

        Also empties yfinance's in-memory response memo (``YfData.cache_get``), which would
        otherwise keep serving a failed time-zone lookup for that symbol forever.
        """
        with self._lock:
            self._tickers.pop(symbol, None)
            data = self._data
        if data is None:
            return
        clear = getattr(getattr(type(data), "cache_get", None), "cache_clear", None)
        if callable(clear):
            clear()

    # ------------------------------------------------------------------ v7 quotes

    def _quote_rows(self, symbols: Sequence[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """One v7 quote request for up to ``BATCH_SIZE`` symbols: (symbol as asked, its row),
        for each row that answers a symbol asked for."""
        _session, data = self._current()
        params = {"symbols": ",".join(symbols), "formatted": "false", "lang": "en-US", "region": "US"}
        try:
            payload = data.get_raw_json(QUOTE_URL, params=params, timeout=self.timeout)
        except Exception as exc:
            raise classify(exc, what="quote", timeout=self.timeout) from exc
        results = _dig(payload, "quoteResponse", "result")
        if not isinstance(results, list):
            raise SourceError("Yahoo Finance sent a quote response without results", retryable=True)
        wanted = {s.upper(): s for s in symbols}
        for row in results:
            if (
                isinstance(row, Mapping)
                and (sym := wanted.get(str(row.get("symbol", "")).upper())) is not None
            ):
                yield sym, row

    def quote_batch(self, symbols: Sequence[str]) -> dict[str, Snapshot]:
        """One v7 quote request for up to ``BATCH_SIZE`` symbols; unknown symbols are absent."""
        out: dict[str, Snapshot] = {}
        for sym, row in self._quote_rows(symbols):
            if (snap := parse_v7(sym, row)) is not None:
                out[sym] = snap
        return out

    def quote_names(self, symbols: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Company names from one v7 quote request (``shortName``, ``longName``, de-duplicated);
        symbols Yahoo does not know are absent."""
        out: dict[str, tuple[str, ...]] = {}
        for sym, row in self._quote_rows(symbols):
            names = [_text(row.get(k)) for k in ("shortName", "longName")]
            if kept := tuple(dict.fromkeys(n for n in names if n)):
                out[sym] = kept
        return out

    # ------------------------------------------------------------------ v8 chart

    def bars(self, symbol: str, period: str = "1d", tz: str | None = None) -> Bars:
        """1-minute bars with pre- and post-market (``prepost=True``): the latest day, or ``period``.

        ``tz``, the exchange's time zone when we know it, spares yfinance its own look-up (an
        extra request, and for unknown symbols a quoteSummary call that needs a crumb).
        """
        t = self.ticker(symbol)
        if tz and getattr(t, "_tz", "") is None:
            t._tz = tz
        try:
            df = t.history(
                period=period,
                interval="1m",
                prepost=True,
                auto_adjust=False,
                actions=False,
                timeout=self.timeout,
            )
            meta = dict(t.history_metadata) if df is not None else {}
        except Exception as exc:
            self.forget(symbol)
            raise classify(exc, what="chart", symbol=symbol, timeout=self.timeout) from exc
        return parse_history(symbol, df, meta)

    def chart_snapshot(self, symbol: str, tz: str | None = None) -> Snapshot:
        """A quote from the 1-minute chart: the fallback when the v7 batch has no answer."""
        bars = self.bars(symbol, "1d", tz)
        if not bars.closes:
            raise SourceError(f"Yahoo Finance has no recent prices for {symbol}", retryable=True)
        return bars.snapshot()

    # ------------------------------------------------------------------ news

    def news(self, symbol: str, count: int) -> list[dict[str, Any]]:
        """``Ticker.get_news``: the ticker's latest stories as Yahoo sends them (ads removed)."""
        t = self.ticker(symbol)
        try:
            items = t.get_news(count=count, tab="news")
        except Exception as exc:
            self.forget(symbol)
            raise classify(exc, what="news", symbol=symbol, timeout=self.timeout) from exc
        finally:
            # Ticker caches its news list forever; the next poll must ask again
            if hasattr(t, "_news"):
                t._news = []
        return [i for i in items if isinstance(i, dict)]


# ---------------------------------------------------------------------- parsing


def _dig(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(k)
    return obj


def _num(value: Any) -> float | None:
    if isinstance(value, Mapping):  # formatted=true shape {"raw": 1.0, "fmt": "1.00"}
        value = value.get("raw")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) and f > 0 else None


def _ts(value: Any) -> datetime | None:
    if isinstance(value, Mapping):
        value = value.get("raw")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if value > 1e11:  # milliseconds
        value = value / 1000
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _point(price: Any, at: Any) -> PricePoint | None:
    p, t = _num(price), _ts(at)
    return PricePoint(p, t) if p is not None and t is not None else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_v7(symbol: str, row: Mapping[str, Any]) -> Snapshot | None:
    """A v7 ``quoteResponse.result`` row -> Snapshot (None when it carries no price at all)."""
    regular = _point(row.get("regularMarketPrice"), row.get("regularMarketTime"))
    pre = _point(row.get("preMarketPrice"), row.get("preMarketTime"))
    post = _point(row.get("postMarketPrice"), row.get("postMarketTime"))
    if regular is None and pre is None and post is None:
        return None
    volume = row.get("regularMarketVolume")
    return Snapshot(
        symbol=symbol,
        source="quote",
        name=_text(row.get("shortName")) or _text(row.get("longName")) or _text(row.get("displayName")),
        currency=_text(row.get("currency")),
        quote_type=_text(row.get("quoteType")),
        regular=regular,
        previous_close=_num(row.get("regularMarketPreviousClose")),
        pre=pre,
        post=post,
        volume=int(volume) if isinstance(volume, int | float) and not isinstance(volume, bool) else None,
        market_state=_text(row.get("marketState")),
    )


def parse_history(symbol: str, df: Any, meta: Mapping[str, Any]) -> Bars:
    """yfinance's ``history()`` frame and ``history_metadata`` -> Bars."""
    times: list[datetime] = []
    closes: list[float] = []
    if df is not None and not df.empty and "Close" in df.columns:
        for ts, close in zip(df.index, df["Close"], strict=True):
            try:
                value = float(close)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value) or value <= 0:
                continue
            times.append(ts.to_pydatetime().astimezone(UTC))
            closes.append(value)
    rm_time = meta.get("regularMarketTime")
    rm_at = _ts(rm_time)
    if rm_at is None and rm_time is not None and hasattr(rm_time, "to_pydatetime"):  # formatted by yfinance
        rm_at = rm_time.to_pydatetime().astimezone(UTC)
    rm_price = _num(meta.get("regularMarketPrice"))
    regular = PricePoint(rm_price, rm_at) if rm_price is not None and rm_at is not None else None
    previous = _num(meta.get("previousClose")) or _num(meta.get("chartPreviousClose"))
    return Bars(
        symbol=symbol,
        times=tuple(times),
        closes=tuple(closes),
        previous_close=previous,
        regular=regular,
        name=_text(meta.get("shortName")) or _text(meta.get("longName")),
        currency=_text(meta.get("currency")),
        exchange_tz=_text(meta.get("exchangeTimezoneName")),
    )


# ---------------------------------------------------------------------- errors


def classify(
    exc: BaseException, *, what: str, symbol: str | None = None, timeout: float | None = None
) -> SourceError:
    """Turn whatever yfinance / curl_cffi raised into a SourceError a user can act on."""
    if isinstance(exc, SourceError):
        return exc
    name = type(exc).__name__
    subject = f"{what} for {symbol}" if symbol else what
    text = str(exc)
    if name == "YFRateLimitError" or "429" in text or "Too Many Requests" in text:
        return SourceError(f"Yahoo Finance is rate-limiting us (HTTP 429) on the {subject}", retry_after=60)
    if name == "YFPricesMissingError" and getattr(exc, "yahoo_reason", None):
        # Yahoo itself said so ("No data found, symbol may be delisted"): a definitive answer
        return NotFound(f"{symbol or 'symbol'}: no such symbol on Yahoo Finance ({exc.yahoo_reason})")  # type: ignore[attr-defined]
    if name in ("YFPricesMissingError", "YFTzMissingError"):
        # no explanation from Yahoo: an empty or unreadable answer, worth another try later
        return NoPrices(f"Yahoo Finance sent no usable prices for {symbol or 'the symbol'}")
    if isinstance(exc, KeyError | IndexError | TypeError | ValueError) and not isinstance(
        exc, json.JSONDecodeError
    ):
        return SourceError(f"Yahoo Finance sent an unexpected {subject} response ({name}: {text[:80]})")
    if "CURRENTLY DOWN" in text:  # yfinance's reading of Yahoo's "Will be right back" page
        return SourceError(f'Yahoo Finance says it is down ("Will be right back") on the {subject}')
    if isinstance(exc, json.JSONDecodeError) or name in ("JSONDecodeError",):
        return SourceError(f"Yahoo Finance sent an unreadable {subject} response (not JSON)")
    if name == "HTTPError":
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404 and symbol:
            return NotFound(f"{symbol}: no such symbol on Yahoo Finance")
        return SourceError(f"Yahoo Finance answered the {subject} with HTTP {status or '?'}")
    if name in ("Timeout", "ReadTimeout", "ConnectTimeout") or "timed out" in text.lower():
        within = f"within {timeout:g}s" if timeout else "in time"
        return SourceError(f"Yahoo Finance did not answer {within}")
    if name in ("DNSError",) or "resolve host" in text.lower():
        return SourceError("cannot resolve Yahoo Finance's host name (offline, or DNS blocks it)")
    if name in ("ConnectionError",) or "connect" in text.lower():
        return SourceError(f"cannot connect to Yahoo Finance: {_curl_message(text)}")
    return SourceError(f"Yahoo Finance {subject} failed: {name}: {_curl_message(text) or name}")


def _curl_message(text: str) -> str:
    """``Failed to perform, curl: (7) Failed to connect ... See https://curl.se/...`` -> the middle."""
    first = text.splitlines()[0] if text else ""
    first = first.removeprefix("Failed to perform, ")
    cut = first.find(" See https://curl.se")
    if cut != -1:
        first = first[:cut]
    return first.strip()[:200]
