"""In-memory twins of the market ports: fixed prices and charts, a switchable outage, no network.

``MemoryQuotes`` keeps the ``QuoteSource`` promises (normalised keys in order, never raises, a
reason for every missing price, ``status()`` with a breaker) and runs through the same contract
suite as the Yahoo source. ``MemoryCharts`` keeps the ``ChartSource`` ones (a real PNG, or a
``QuoteUnavailable`` saying why not) and runs through the suite beside the matplotlib renderer.
Tests and offline demos use them where prices and charts are scenery.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Mapping, Sequence
from datetime import timedelta

from bot.domain.errors import QuoteUnavailable
from bot.domain.models import Quote, TradingSession
from bot.domain.status import BreakerStatus, QuoteSourceStatus
from bot.market.quotes import QUOTE_SYMBOL, normalize_symbol, unavailable
from bot.ports import Clock


class MemoryQuotes:
    """A QuoteSource over a dict of ``symbol -> (price, previous close)``.

    ``gate`` (when set) holds every call until it is opened: a quote service that is slow.
    ``down(reason)`` opens the breaker: every quote comes back without a price and with that
    reason, the way the Yahoo source answers while it pauses; ``up()`` closes it again.
    """

    def __init__(
        self,
        clock: Clock,
        prices: Mapping[str, tuple[float, float]] | None = None,
        *,
        session: TradingSession | None = TradingSession.PRE,
        currency: str = "USD",
        pause: float = 60.0,
    ) -> None:
        self.clock = clock
        self.prices: dict[str, tuple[float, float]] = {
            normalize_symbol(s): p for s, p in (prices or {}).items()
        }
        self.session = session
        self.currency = currency
        self.pause = timedelta(seconds=pause)
        self.gate: asyncio.Event | None = None
        self.calls: list[tuple[str, ...]] = []
        self._breaker = BreakerStatus(name="quotes", state="closed", consecutive_failures=0, threshold=1)
        self._last_error: str | None = None

    # ------------------------------------------------------------ scripting

    def down(self, reason: str = "the quote service did not answer") -> None:
        """An outage: the breaker opens for ``pause`` seconds of the clock, prices go missing."""
        now = self.clock.now()
        self._last_error = reason
        self._breaker = BreakerStatus(
            name="quotes",
            state="open",
            consecutive_failures=1,
            threshold=1,
            opened_at=now,
            retry_at=now + self.pause,
            last_error=reason,
            last_failure_at=now,
            last_success_at=self._breaker.last_success_at,
        )

    def up(self) -> None:
        """The outage is over."""
        self._breaker = BreakerStatus(
            name="quotes",
            state="closed",
            consecutive_failures=0,
            threshold=1,
            last_error=self._last_error,
            last_failure_at=self._breaker.last_failure_at,
            last_success_at=self.clock.now(),
        )

    # ------------------------------------------------------------ QuoteSource

    async def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols if s and s.strip()))
        if not wanted:
            return {}
        self.calls.append(tuple(wanted))
        if self.gate is not None:
            await self.gate.wait()
        now = self.clock.now()
        out: dict[str, Quote] = {}
        for sym in wanted:
            if not QUOTE_SYMBOL.match(sym):
                out[sym] = unavailable(sym, f"{sym!r} is not a ticker symbol")
            elif self._breaker.state == "open":
                out[sym] = unavailable(sym, self._last_error or "the quote service is paused")
            elif sym not in self.prices:
                out[sym] = unavailable(sym, f"no price for {sym}")
            else:
                price, prev = self.prices[sym]
                out[sym] = Quote(
                    symbol=sym,
                    price=price,
                    previous_close=prev,
                    change=price - prev,
                    change_pct=(price - prev) / prev * 100,
                    session=self.session,
                    as_of=now,
                    currency=self.currency,
                )
        return out

    def status(self) -> QuoteSourceStatus:
        return QuoteSourceStatus(
            endpoint="memory",
            breaker=self._breaker,
            cached_symbols=len(self.prices),
            rounds=len(self.calls),
            last_error=self._last_error,
        )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def blank_png(width: int = 16, height: int = 8, rgb: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    """A valid truecolour PNG of ``width`` x ``height`` pixels in one colour (what a chart
    renderer returns, only plainer): signature, IHDR, one zlib IDAT, IEND, CRCs right."""
    if width < 1 or height < 1:
        raise ValueError(f"a PNG needs at least 1x1 pixels, not {width}x{height}")
    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(row * height))
        + _png_chunk(b"IEND", b"")
    )


class MemoryCharts:
    """A ChartSource answering every symbol with the same small PNG (``png``).

    ``down(reason)`` makes every chart fail with ``QuoteUnavailable(reason)``, the way the
    renderer fails when its bars cannot be fetched; ``up()`` ends that. Symbols in ``missing``
    have no prices to chart. ``calls`` lists the (normalised) symbols asked for.
    """

    def __init__(self, png: bytes | None = None, *, missing: Sequence[str] = ()) -> None:
        self.png = png if png is not None else blank_png()
        self.missing = {normalize_symbol(s) for s in missing}
        self.calls: list[str] = []
        self._error: str | None = None

    def down(self, reason: str = "the chart data did not arrive") -> None:
        self._error = reason

    def up(self) -> None:
        self._error = None

    async def chart(self, symbol: str) -> bytes:
        sym = normalize_symbol(symbol)
        self.calls.append(sym)
        if self._error is not None:
            raise QuoteUnavailable(f"no chart for {sym}: {self._error}", retryable=True)
        if not QUOTE_SYMBOL.match(sym):
            raise QuoteUnavailable(f"{sym!r} is not a ticker symbol", retryable=False)
        if sym in self.missing:
            raise QuoteUnavailable(f"no prices to chart for {sym}", retryable=False)
        return self.png

    async def aclose(self) -> None:
        return None
