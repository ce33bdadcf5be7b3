"""``ChartSource``: a PNG of a symbol's latest trading day, made for a phone screen.

One-minute closes across pre-market, regular session and after hours; the extended
sessions are shaded and labelled, the previous close is a dashed line. The image carries
its own opaque background (dark by default, light on request) so it reads the same in a
chat app's dark and light modes. Rendering uses matplotlib's object API on the Agg canvas
(no pyplot global state) in a worker thread; PNGs are cached per symbol per minute.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from bot.domain.errors import QuoteUnavailable
from bot.domain.format import format_price
from bot.domain.models import Quote
from bot.domain.timeutil import SystemClock
from bot.market.pool import DaemonPool
from bot.market.quotes import build_quote
from bot.market.sessions import ExchangeCalendar, SessionTimes
from bot.market.yahoo import Bars
from bot.ports import Clock

Theme = Literal["dark", "light"]


class BarsSource(Protocol):
    """Where 1-minute bars come from (``YahooQuoteSource.bars``)."""

    async def bars(self, symbol: str) -> Bars: ...


@dataclass(frozen=True, slots=True)
class Palette:
    background: str
    text: str
    muted: str
    grid: str
    extended: str
    up: str
    down: str
    flat: str


PALETTES: dict[str, Palette] = {
    # contrast >= 4.5:1 for text on its own background in both themes
    "dark": Palette("#111827", "#f9fafb", "#9ca3af", "#374151", "#1f2937", "#34d399", "#f87171", "#d1d5db"),
    "light": Palette("#ffffff", "#111827", "#4b5563", "#e5e7eb", "#f1f5f9", "#047857", "#b91c1c", "#374151"),
}

_render_lock = threading.Lock()  # matplotlib's font and text caches are not thread-safe


def warm_up() -> None:
    """Import matplotlib and load (or build) its font cache.

    Building the cache is CPU-bound Python that holds the GIL for seconds on a fresh machine;
    the app does it at start-up, before chat connections exist, so the first /quote chart
    never stalls the event loop (and Discord heartbeats) while users wait.
    """
    with _render_lock:
        from matplotlib import font_manager
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401 - imported for its side effect

        font_manager.fontManager.findfont("DejaVu Sans")


def money(value: float, currency: str | None) -> str:
    """``181.2, "USD"`` -> ``$181.20``: the same price format as every alert and reply."""
    return format_price(value, currency)


def render_png(
    bars: Bars,
    *,
    calendar: ExchangeCalendar | None = None,
    theme: Theme = "dark",
    now: datetime | None = None,
    width: float = 6.0,
    height: float = 3.6,
    dpi: int = 200,
) -> bytes:
    """Draw ``bars`` (blocking; call it from a worker thread). Raises QuoteUnavailable if empty.

    Sized for a phone: 1200x720 px, with fonts large enough that tick labels stay about
    11 px tall when a chat app shows the image 360 px wide.
    """
    if not bars.closes:
        raise QuoteUnavailable(f"no prices to chart for {bars.symbol}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    pal = PALETTES[theme]
    tz = _zone(bars, calendar)
    times, closes = _with_gaps([t.astimezone(tz) for t in bars.times], list(bars.closes))
    quote = headline(bars, calendar, now)
    prev = bars.previous_close
    change = quote.change
    color = pal.flat if not change else pal.up if change > 0 else pal.down
    span = _session_span(bars, calendar, tz)
    low, high = min(bars.closes), max(bars.closes)
    if prev:
        low, high = min(low, prev), max(high, prev)
    pad = (high - low) * 0.12 or max(abs(high) * 0.002, 0.01)

    with _render_lock:
        fig: Any = Figure(figsize=(width, height), dpi=dpi, facecolor=pal.background)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.055, 0.15, 0.745, 0.6))
        ax.set_facecolor(pal.background)
        if span is not None:
            _shade(ax, span, tz, pal)
        ax.plot(times, closes, color=color, linewidth=2.0, solid_joinstyle="round")
        ax.set_ylim(low - pad, high + pad)
        if prev:
            ax.axhline(prev, color=pal.muted, linewidth=1.2, linestyle=(0, (5, 4)))
            near_bottom = prev - low < (high - low) * 0.2
            ax.text(
                0.01,
                prev,
                f" prev close {money(prev, bars.currency)}",
                transform=ax.get_yaxis_transform(),
                va="bottom" if near_bottom else "top",
                ha="left",
                fontsize=12,
                color=pal.muted,
            )
        ax.fill_between(times, closes, low - pad, color=color, alpha=0.12, linewidth=0)
        ax.scatter([times[-1]], [closes[-1]], s=30, color=color, zorder=5)
        if span is not None:
            ax.set_xlim(span.starts.astimezone(tz), span.ends.astimezone(tz))
        ax.yaxis.tick_right()
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: money(v, bars.currency)))
        ax.xaxis.set_major_locator(_hour_locator(tz))
        ax.xaxis.set_major_formatter(FuncFormatter(_hour_label(tz)))
        ax.tick_params(colors=pal.muted, labelsize=13, length=0, pad=5)
        ax.grid(True, color=pal.grid, linewidth=0.7)
        for side in ax.spines.values():
            side.set_visible(False)
        _titles(fig, bars, quote, tz, pal)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", facecolor=pal.background, dpi=dpi)
    return buf.getvalue()


def headline(bars: Bars, calendar: ExchangeCalendar | None, now: datetime | None) -> Quote:
    """The price, change and label the quote rules give for the chart's last trade."""
    last = bars.last
    if calendar is None:
        prev = bars.previous_close
        change = last.price - prev if prev else None
        pct = change / prev * 100 if prev and change is not None else None
        return Quote(bars.symbol, last.price, prev, change, pct, None, last.at, bars.currency, name=bars.name)
    return build_quote(bars.snapshot(), now=now or last.at, calendar=calendar)


def _with_gaps(times: list[datetime], closes: list[float]) -> tuple[list[datetime], list[float]]:
    """Insert a NaN where bars pause for over 10 minutes (lunch breaks) so no line bridges it."""
    out_t: list[datetime] = []
    out_c: list[float] = []
    for i, (t, c) in enumerate(zip(times, closes, strict=True)):
        if i and (t - times[i - 1]).total_seconds() > 600:
            out_t.append(times[i - 1] + (t - times[i - 1]) / 2)
            out_c.append(float("nan"))
        out_t.append(t)
        out_c.append(c)
    return out_t, out_c


def _zone(bars: Bars, calendar: ExchangeCalendar | None) -> ZoneInfo:
    if calendar is not None:
        zone = calendar.zone(bars.symbol)
        if zone is not None:
            return zone
    return ZoneInfo(bars.exchange_tz or "America/New_York")


def _session_span(bars: Bars, calendar: ExchangeCalendar | None, tz: ZoneInfo) -> SessionTimes | None:
    if calendar is None or calendar.exchange_of(bars.symbol) is None:
        return None
    day = bars.times[-1].astimezone(tz).date()
    try:
        return calendar.session_times(day, bars.symbol)
    except Exception:  # outside the calendar's range: no shading
        return None


def _shade(ax: Any, span: SessionTimes, tz: ZoneInfo, pal: Palette) -> None:
    for start, end, label in (
        (span.pre_open, span.open, "Pre-market"),
        (span.close, span.post_close, "After hours"),
        (span.break_start, span.break_end, "Break"),
    ):
        if start is None or end is None:
            continue
        a, b = start.astimezone(tz), end.astimezone(tz)
        ax.axvspan(a, b, color=pal.extended, zorder=0, linewidth=0)
        ax.text(
            a + (b - a) / 2,
            0.98,
            label,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=12,
            color=pal.muted,
        )


def _titles(fig: Any, bars: Bars, quote: Quote, tz: ZoneInfo, pal: Palette) -> None:
    fig.text(0.035, 0.9, bars.symbol, fontsize=24, fontweight="bold", color=pal.text, va="center")
    if bars.name:
        name = bars.name if len(bars.name) <= 26 else bars.name[:25] + "…"
        fig.text(0.035, 0.805, name, fontsize=14, color=pal.muted, va="center")
    price = money(quote.price if quote.price is not None else bars.closes[-1], bars.currency)
    fig.text(0.965, 0.9, price, fontsize=24, fontweight="bold", color=pal.text, ha="right", va="center")
    if quote.change is not None and quote.change_pct is not None:
        arrow = "▲" if quote.change > 0 else "▼" if quote.change < 0 else "■"
        colour = pal.up if quote.change > 0 else pal.down if quote.change < 0 else pal.flat
        move = f"{arrow} {abs(quote.change_pct):.2f}%"
        if quote.session is not None:
            move = f"{quote.session}  {move}"
        fig.text(0.965, 0.805, move, fontsize=14, fontweight="bold", color=colour, ha="right", va="center")
    stamp = bars.times[-1].astimezone(tz).strftime("%a %d %b, %H:%M %Z")
    fig.text(0.035, 0.045, f"Last trade {stamp} · 1-minute prices", fontsize=12, color=pal.muted, va="center")


def _hour_locator(tz: ZoneInfo) -> Any:
    """Ticks on whole local hours, spaced so at most ~6 labels fit a phone-width chart."""
    from matplotlib import dates

    base: Any = dates.HourLocator

    class Locator(base):  # type: ignore[misc]
        def tick_values(self, vmin: Any, vmax: Any) -> Sequence[float]:
            width = vmax - vmin  # datetimes from matplotlib's date converter, or day numbers
            hours = width.total_seconds() / 3600 if hasattr(width, "total_seconds") else float(width) * 24
            step = 1 if hours <= 6 else 2 if hours <= 12 else 4
            self.rule.set(byhour=range(0, 24, step))
            return list(super().tick_values(vmin, vmax))

    return Locator(interval=1, tz=tz)


def _hour_label(tz: ZoneInfo) -> Any:
    from matplotlib import dates

    num2date: Any = dates.num2date

    def fmt(value: float, _pos: int | None) -> str:
        return str(num2date(value, tz=tz).strftime("%H:%M"))

    return fmt


class ChartRenderer:
    """``ChartSource``: PNG bytes for a symbol, rendered off the event loop, cached per minute."""

    def __init__(
        self,
        bars: BarsSource,
        calendar: ExchangeCalendar | None = None,
        *,
        clock: Clock | None = None,
        theme: Theme = "dark",
        timeout: float = 10.0,
        cache_size: int = 64,
    ) -> None:
        self._bars = bars
        self._calendar = calendar
        self._clock: Clock = clock or SystemClock()
        self.theme: Theme = theme
        self.timeout = timeout
        self._cache: OrderedDict[tuple[str, str, datetime], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._inflight: dict[tuple[str, str, datetime], asyncio.Future[bytes]] = {}
        self._pool = DaemonPool(2, name="marketbot-chart")

    async def chart(self, symbol: str, *, theme: Theme | None = None) -> bytes:
        """The PNG for ``symbol`` (upper-cased). Raises QuoteUnavailable when there is no data."""
        sym = symbol.strip().lstrip("$").upper()
        now = self._clock.now()
        key = (sym, theme or self.theme, now.replace(second=0, microsecond=0))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            bars = await self._bars.bars(sym)
            try:
                png = await self._pool.run(self._render, bars, key[1], now, timeout=self.timeout)
            except TimeoutError:
                raise QuoteUnavailable(
                    f"drawing the chart for {sym} took longer than {self.timeout:g}s"
                ) from None
            self._cache[key] = png
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            fut.set_result(png)
            return png
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: joiners re-raise it, nobody else needs to
            raise
        finally:
            self._inflight.pop(key, None)

    def _render(self, bars: Bars, theme: Theme, now: datetime) -> bytes:
        return render_png(bars, calendar=self._calendar, theme=theme, now=now)

    async def aclose(self) -> None:
        self._pool.shutdown()
