"""A world for briefing and move-alert tests: real parts, the Yahoo fake for prices, a manual clock.

The store is the real SqlStore, the catalog and matcher are real, quotes come from the real
yfinance (through ``YahooQuoteSource``) talking to the Yahoo-shaped server on 127.0.0.1, whose
prices follow the same ``ManualClock`` the services read. Chat is ``MemoryChat``; the
dispatcher and the held-alert releaser are the app's own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.catalog import Catalog
from bot.chat.memory import MemoryChat
from bot.config import BotConfig, MarketConfig, parse_config
from bot.delivery.briefing import BriefingService
from bot.delivery.digests import HeldReleaser
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.moves import MoveMonitor
from bot.domain.models import Alert, ChannelRef, Story, StorySource, Subscription, SubscriptionOptions
from bot.domain.records import IngestBatch, SubscriptionSpec
from bot.domain.timeutil import ManualClock
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import load_directory
from bot.store import SqlStore
from tests.fakes.yahoo_server import YahooFake
from tests.support.clock import VirtualSleep

ET = ZoneInfo("America/New_York")
SLACK_A = ChannelRef("slack", "C0AAAAAAAA", "T1")
SLACK_B = ChannelRef("slack", "C0BBBBBBBB", "T1")

WATCHLISTS = """
timezone: America/New_York
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, NVDA, ZZZZ]
    keywords: ["export control", cloud]
  - name: chips
    tickers: [NVDA]
    keywords: [semiconductor]
  - name: retail
    tickers: [AMZN]
    keywords: [retail]
"""


def et(text: str) -> datetime:
    """``et("2026-11-25 08:30")``: New York wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ET)


def config(
    *,
    briefing: str = '{time: "08:30", grace: 30m, max_stories: 5}',
    move_alerts: str = "[3, 5, 10]",
    delivery: str = "{quote_wait: 1, late_price_wait: 0}",
    extra: str = "",
) -> BotConfig:
    """The test config; each section is a YAML flow value."""
    return parse_config(
        f"{WATCHLISTS}briefing: {briefing}\nmove_alerts: {move_alerts}\ndelivery: {delivery}\n{extra}"
    )


_ids = iter(range(1, 1_000_000))


def story(
    title: str,
    *,
    at: datetime,
    summary: str = "",
    source: str = "Reuters",
    also: Sequence[str] = (),
    link: str | None = None,
) -> Story:
    """A stored-story shape: ``also`` are outlets that carried it later."""
    sid = f"s{next(_ids):05d}"
    link = link or f"https://news.example/{sid}"
    sources = [StorySource(source, link, at)] + [
        StorySource(o, f"https://{o.lower().replace(' ', '')}.example/{sid}", at) for o in also
    ]
    return Story(
        id=sid,
        title=title,
        link=link,
        canonical_url=link,
        summary=summary,
        source=source,
        published_at=at,
        first_seen_at=at,
        sources=tuple(sources),
    )


@dataclass
class World:
    store: SqlStore
    cfg: BotConfig
    clock: ManualClock
    fake: YahooFake
    quotes: YahooQuoteSource
    calendar: ExchangeCalendar
    catalog: Catalog
    chat: MemoryChat
    dispatcher: Dispatcher
    releaser: HeldReleaser
    briefings: BriefingService
    moves: MoveMonitor

    async def subscribe(
        self, watchlist: str, channel: ChannelRef = SLACK_A, **options: object
    ) -> Subscription:
        return await self.store.add_subscription(
            SubscriptionSpec(watchlist, channel, SubscriptionOptions(**options))  # type: ignore[arg-type]
        )

    async def add_stories(self, *stories: Story) -> None:
        """Store stories as ingestion does, with the tickers the matcher detects in them."""
        matcher = self.catalog.matcher
        tagged = [
            Story(
                **{
                    **{f: getattr(s, f) for f in s.__dataclass_fields__},
                    "tickers": matcher.tickers(s.title, s.summary),
                }
            )
            for s in stories
        ]
        await self.store.save_ingest(IngestBatch(new_stories=tagged))

    async def deliver(self) -> list[Alert]:
        """Send what is due; returns the alerts that reached chat in this call, in order."""
        before = len(self.chat.messages)
        await self.dispatcher.drain()
        return [m.message for m in self.chat.messages[before:] if isinstance(m.message, Alert)]

    def sent(self, kind: str | None = None, channel: ChannelRef | None = None) -> list[Alert]:
        return [
            a
            for a in self.chat.alerts(channel.channel if channel else None)
            if kind is None or a.kind == kind
        ]

    def set_close(self, symbol: str, day: date, close: float) -> None:
        self.fake.set_day(symbol, day, close=close)


def market_config() -> MarketConfig:
    # a generous deadline (Yahoo always answers here, and yfinance is slow on a busy machine)
    return MarketConfig(quote_timeout=30.0, breaker_failures=2, breaker_reset=300)


async def make_world(
    store: SqlStore,
    clock: ManualClock,
    fake: YahooFake,
    cache_dir: Path,
    *,
    cfg: BotConfig | None = None,
    batch_size: int = 50,
) -> World:
    cfg = cfg or config()
    calendar = ExchangeCalendar(cfg.market.exchange)
    quotes = YahooQuoteSource(
        market_config(),
        calendar,
        yahoo_url=fake.url,
        clock=clock,
        cache_dir=cache_dir,
    )
    catalog = Catalog(store=store, config_watchlists=cfg.domain_watchlists(), directory=load_directory())
    await catalog.reload()
    chat = MemoryChat("slack")
    dispatcher = Dispatcher(
        store,
        {"slack": chat},
        cfg.delivery,
        clock,
        "test-worker",
        sleep=VirtualSleep(clock),
        rng=random.Random(7),
    )
    return World(
        store=store,
        cfg=cfg,
        clock=clock,
        fake=fake,
        quotes=quotes,
        calendar=calendar,
        catalog=catalog,
        chat=chat,
        dispatcher=dispatcher,
        releaser=HeldReleaser(store, cfg.delivery, clock, tz=cfg.tz),
        briefings=BriefingService(
            store, catalog, quotes, calendar, cfg.briefing, clock, tz=cfg.tz, on_queued=dispatcher.wake
        ),
        moves=MoveMonitor(
            store, catalog, quotes, calendar, cfg.move_alerts, clock, tz=cfg.tz, batch_size=batch_size
        ),
    )


async def close_world(world: World) -> None:
    await world.dispatcher.aclose()
    await world.quotes.aclose()
