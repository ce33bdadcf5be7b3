"""/quote and /news: prices, headlines and a chart. Anyone may use them; replies are for the channel.

A slow or failing quote service, or a failing chart, never fails the reply: the user gets
what could be had (headlines without prices, prices without a chart) and a line saying so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from bot.commands import messages as msg
from bot.commands.records import NewsCmd, QuoteCmd
from bot.commands.registry import handles
from bot.domain.errors import BotError
from bot.domain.models import Attachment, CommandContext, Quote, Reply, ReplyItem, Story
from bot.domain.rules.symbols import SymbolDirectory
from bot.domain.timeutil import format_age
from bot.ports import ChartSource, Clock, NewsStore, QuoteSource

log = logging.getLogger(__name__)

HEADLINES_PER_TICKER = 2


def _unavailable(symbol: str) -> Quote:
    return Quote(
        symbol=symbol, price=None, previous_close=None, change=None, change_pct=None, session=None, as_of=None
    )


def story_detail(story: Story, now: datetime, *prefix: str) -> str:
    """``AMZN · Reuters · 12 min ago``: what a headline line says under its title."""
    return " · ".join(p for p in (*prefix, story.source, format_age(story.published_at, now)) if p)


class QuoteNewsHandlers:
    """Handlers for /quote and /news."""

    def __init__(
        self,
        *,
        store: NewsStore,
        quotes: QuoteSource,
        charts: ChartSource | None,
        directory: SymbolDirectory,
        clock: Clock,
        quote_timeout: float,
        chart_timeout: float,
    ) -> None:
        self.store = store
        self.quotes = quotes
        self.charts = charts
        self.directory = directory
        self.clock = clock
        self.quote_timeout = quote_timeout
        self.chart_timeout = chart_timeout

    async def _quotes(self, symbols: Sequence[str]) -> dict[str, Quote] | None:
        try:
            async with asyncio.timeout(self.quote_timeout):
                return await self.quotes.quotes(symbols)
        except (BotError, TimeoutError) as exc:
            log.warning("quotes for %s unavailable: %s", ",".join(symbols), exc or "timed out")
            return None

    async def _chart(self, symbol: str) -> bytes | None:
        if self.charts is None:
            return None
        try:
            async with asyncio.timeout(self.chart_timeout):
                return await self.charts.chart(symbol)
        except TimeoutError:
            log.warning("chart for %s timed out after %.0f s", symbol, self.chart_timeout)
        except Exception as exc:  # a chart is decoration: whatever broke, the reply goes out
            log.warning("chart for %s failed: %s", symbol, exc)
        return None

    def _suggest(self, symbol: str) -> tuple[str, ...]:
        return () if symbol in self.directory else self.directory.suggest(symbol)

    @handles("quote")
    async def quote(self, ctx: CommandContext, cmd: QuoteCmd) -> Reply:
        """Price, change and session per ticker, its latest headlines, and a chart for one ticker."""
        symbols = cmd.symbols
        quote_task = asyncio.create_task(self._quotes(symbols))
        chart_task = asyncio.create_task(self._chart(symbols[0])) if len(symbols) == 1 else None
        try:
            stories = [await self.store.stories(ticker=s, limit=HEADLINES_PER_TICKER) for s in symbols]
            got = await quote_task
            png = await chart_task if chart_task is not None else None
        finally:  # a failed headline query must not leave the quote or chart running
            for task in (quote_task, chart_task):
                if task is not None and not task.done():
                    task.cancel()
        now = self.clock.now()
        quotes = tuple((got or {}).get(s) or _unavailable(s) for s in symbols)
        notes: list[str] = []
        if got is None or (not any(q.available for q in quotes) and self.quotes.status().breaker.paused(now)):
            notes.append(msg.PRICES_UNAVAILABLE)
        else:
            for q in quotes:
                if not q.available and (hint := self._suggest(q.symbol)):
                    notes.append(msg.price_unavailable(q.symbol, hint))
        items: list[ReplyItem] = []
        for sym, found in zip(symbols, stories, strict=True):
            for story in found:
                items.append(
                    ReplyItem(text=story.title, link=story.link, detail=story_detail(story, now, sym))
                )
        attachments: tuple[Attachment, ...] = ()
        if png:
            attachments = (
                Attachment(filename=f"{symbols[0]}.png", data=png, title=f"{symbols[0]} last session"),
            )
        elif chart_task is not None and self.charts is not None and quotes[0].available:
            notes.append(msg.CHART_UNAVAILABLE)
        return Reply(
            title=msg.quote_title(symbols),
            text="\n".join(notes),
            quotes=quotes,
            items=tuple(items),
            attachments=attachments,
        )

    @handles("news")
    async def news(self, ctx: CommandContext, cmd: NewsCmd) -> Reply:
        """The latest stories that mention a ticker, newest first."""
        found = await self.store.stories(ticker=cmd.symbol, limit=cmd.count)
        if not found:
            return Reply(
                title=msg.news_title(cmd.symbol),
                text=msg.no_news(cmd.symbol, self._suggest(cmd.symbol)),
                private=True,
            )
        now = self.clock.now()
        items = tuple(ReplyItem(text=s.title, link=s.link, detail=story_detail(s, now)) for s in found)
        note = msg.count_clamped(cmd.asked, cmd.count) if cmd.asked is not None else ""
        return Reply(title=msg.news_title(cmd.symbol), text=note, items=items)
