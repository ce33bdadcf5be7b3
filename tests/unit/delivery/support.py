"""Shared pieces for delivery tests: a world of real parts wired the way the app wires them.

The store is the real SqlStore, the catalog and matcher are real, the calendar is the real
exchange calendar, chat goes to ``MemoryChat`` (a real in-memory ChatAdapter). Only time is
controlled: a ``ManualClock``, and a ``sleep`` for rate-limit waits that advances it.
The quote source is an in-memory ``QuoteSource`` (the port's test implementation): fixed
prices, optionally held back behind a gate to play a slow quote service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.catalog import Catalog
from bot.chat.memory import MemoryChat
from bot.config import BotConfig, parse_config
from bot.delivery.digests import HeldReleaser
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.pipeline import AlertPipeline
from bot.domain.models import ChannelRef, Story, StorySource
from bot.domain.records import SubscriptionSpec
from bot.domain.timeutil import ManualClock
from bot.market.memory import MemoryQuotes
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import load_directory
from bot.store import SqlStore
from tests.support.clock import VirtualSleep

SLACK_A = ChannelRef("slack", "C0AAAAAAAA", "T1")
SLACK_B = ChannelRef("slack", "C0BBBBBBBB", "T1")
DISCORD_A = ChannelRef("discord", "112233445566778899", "G1")

BASE_CONFIG = """
timezone: America/New_York
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
  - name: chips
    tickers: [NVDA, AMD]
    keywords: [semiconductor]
delivery:
  quote_wait: 1
  late_price_wait: 0
"""


def config(extra: str = "") -> BotConfig:
    """The base config with ``extra`` YAML appended (e.g. a different ``delivery:`` block)."""
    text = BASE_CONFIG
    if "delivery:" in extra:
        text = text.split("delivery:")[0]
    return parse_config(text + extra)


_counter = iter(range(1, 1_000_000))


def story(
    title: str,
    *,
    at: datetime,
    summary: str = "",
    source: str = "Reuters",
    link: str | None = None,
    sid: str | None = None,
) -> Story:
    n = next(_counter)
    sid = sid or f"story{n:05d}"
    link = link if link is not None else f"https://news.example/{sid}"
    return Story(
        id=sid,
        title=title,
        link=link,
        canonical_url=link,
        summary=summary,
        source=source,
        published_at=at,
        first_seen_at=at,
        sources=(StorySource(source, link, at),),
    )


@dataclass
class World:
    """Store, catalog, quotes, calendar, clock, chat, pipeline, dispatcher and releaser."""

    store: SqlStore
    cfg: BotConfig
    clock: ManualClock
    quotes: MemoryQuotes
    chat: dict[str, MemoryChat]
    catalog: Catalog
    pipeline: AlertPipeline
    dispatcher: Dispatcher
    releaser: HeldReleaser
    sleep: VirtualSleep
    calendar: ExchangeCalendar = field(default_factory=ExchangeCalendar)

    async def subscribe(self, watchlist: str, channel: ChannelRef, **options: object) -> int:
        from bot.domain.models import SubscriptionOptions

        sub = await self.store.add_subscription(
            SubscriptionSpec(watchlist, channel, SubscriptionOptions(**options))  # type: ignore[arg-type]
        )
        return sub.id

    async def ingest(self, *stories: Story) -> int:
        """What the poller does with new stories: store them, then hand them to the pipeline."""
        from bot.domain.records import IngestBatch

        await self.store.save_ingest(IngestBatch(new_stories=list(stories)))
        return await self.pipeline.process(stories)

    async def deliver(self) -> int:
        report = await self.dispatcher.drain()
        return report.sent + report.edited


async def make_world(
    store: SqlStore,
    clock: ManualClock,
    *,
    cfg: BotConfig | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    rates: dict[str, tuple[int, float]] | None = None,
    worker: str = "test-worker",
) -> World:
    cfg = cfg or config()
    quotes = MemoryQuotes(clock, prices)
    rates = rates or {"slack": (1000, 1.0), "discord": (1000, 1.0)}
    chat = {p: MemoryChat(p, channel_rate=r) for p, r in rates.items()}
    catalog = Catalog(store=store, config_watchlists=cfg.domain_watchlists(), directory=load_directory())
    await catalog.reload()
    calendar = ExchangeCalendar(cfg.market.exchange)
    sleep = VirtualSleep(clock)
    import random

    return World(
        store=store,
        cfg=cfg,
        clock=clock,
        quotes=quotes,
        chat=chat,
        catalog=catalog,
        pipeline=AlertPipeline(
            store, catalog, quotes, calendar, cfg.delivery, clock, tz=cfg.tz, max_age=cfg.ingest.max_age
        ),
        dispatcher=Dispatcher(store, chat, cfg.delivery, clock, worker, sleep=sleep, rng=random.Random(7)),
        releaser=HeldReleaser(store, cfg.delivery, clock, tz=cfg.tz),
        sleep=sleep,
        calendar=calendar,
    )
