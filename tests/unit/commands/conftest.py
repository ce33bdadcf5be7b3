"""Fixtures for the command handlers: a real SQL store (SQLite), the real catalog and symbol
directory, and the in-memory QuoteSource/ChartSource twins that return fixed data.

``MemoryQuotes`` and ``MemoryCharts`` (``bot.market.memory``) implement the ports and pass their
contract suites (they are data sources, not mocks of our code). ``Chat`` plays a user typing commands in a channel: replies go through the in-memory
chat adapter, channel-visible ones to the channel, private ones only to the asker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.memory import MemoryChat
from bot.commands import CommandService
from bot.config import BotConfig, parse_config
from bot.domain.models import ChannelRef, CommandContext, Reply, Story
from bot.domain.records import IngestBatch
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.domain.view import quote_view
from bot.market.memory import MemoryCharts, MemoryQuotes
from bot.ports import CommandName
from bot.store import SqlStore

CONFIG = """
timezone: America/New_York
admins: ["slack:UADMIN", "discord:900000000000000001"]
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
  - name: chips-policy
    query: '($NVDA OR $AMD) AND ("export control" OR sanction*)'
commands:
  max_items: 8
  max_watchlists: 3
"""

SLACK_CHANNEL = "C0123ABCD"
SLACK_TEAM = "T0001"
DISCORD_CHANNEL = "112233445566778899"
DISCORD_GUILD = "998877665544332211"


def rendered(reply: Reply) -> str:
    """Everything a user reads in a reply, as plain text (what any adapter shows)."""
    parts = [reply.title, reply.text]
    parts += [quote_view(q).line(with_arrow=False) for q in reply.quotes]
    parts += [f"{f.label}: {f.value}" for f in reply.fields]
    for item in reply.items:
        parts += [item.text, item.link, item.detail]
    parts += [f"[{a.filename}]" for a in reply.attachments]
    return "\n".join(p for p in parts if p)


@dataclass
class Chat:
    """A user at a keyboard: types commands, sees replies; the channel sees the public ones."""

    service: CommandService
    adapter: MemoryChat
    ctx: CommandContext
    private: list[Reply] = field(default_factory=list)

    async def __call__(self, line: str, **ctx_changes: object) -> Reply:
        command, _, text = line.lstrip("/").partition(" ")
        assert command in ("quote", "news", "watch")
        ctx = self.ctx
        if ctx_changes:
            from dataclasses import replace

            ctx = replace(ctx, **ctx_changes)  # type: ignore[arg-type]
        name: CommandName = command  # type: ignore[assignment]
        reply = await self.service.handle(ctx, name, text)
        if reply.private:
            self.private.append(reply)
        else:
            await self.adapter.send(reply, target=ctx.channel)
        return reply

    def channel_sees(self) -> list[Reply]:
        return [
            m.message
            for m in self.adapter.in_channel(self.ctx.channel.channel)
            if isinstance(m.message, Reply)
        ]


def slack_ctx(
    user: str = "U1", *, admin: bool = False, channel: str = SLACK_CHANNEL, team: str = SLACK_TEAM
) -> CommandContext:
    return CommandContext(
        platform="slack",
        channel=ChannelRef("slack", channel, workspace=team),
        user=user,
        workspace=team,
        user_name=user.lower(),
        is_admin=admin,
        can_manage=admin,
    )


def discord_ctx(user: str = "700000000000000001", *, manage: bool = False) -> CommandContext:
    return CommandContext(
        platform="discord",
        channel=ChannelRef("discord", DISCORD_CHANNEL, workspace=DISCORD_GUILD),
        user=user,
        workspace=DISCORD_GUILD,
        can_manage=manage,
    )


@pytest.fixture
def config() -> BotConfig:
    return parse_config(CONFIG)


@pytest.fixture
def quotes(clock: ManualClock) -> MemoryQuotes:
    return MemoryQuotes(
        clock,
        {"AMZN": (181.20, 182.70), "MSFT": (415.00, 410.00), "NVDA": (950.00, 940.00), "BABA": (80.0, 80.0)},
    )


@pytest.fixture
def charts() -> MemoryCharts:
    return MemoryCharts()


@pytest.fixture
async def catalog(sqlite_store: SqlStore, config: BotConfig, directory: SymbolDirectory) -> Catalog:
    cat = Catalog(
        store=sqlite_store,
        config_watchlists=config.domain_watchlists(),
        directory=directory,
        aliases=config.aliases,
    )
    await cat.reload()
    return cat


@pytest.fixture
async def service(
    sqlite_store: SqlStore,
    catalog: Catalog,
    quotes: MemoryQuotes,
    charts: MemoryCharts,
    directory: SymbolDirectory,
    config: BotConfig,
    clock: ManualClock,
) -> CommandService:
    return CommandService(sqlite_store, catalog, quotes, charts, directory, command_options(config), clock)


@pytest.fixture
def chat(service: CommandService) -> Chat:
    return Chat(service, MemoryChat("slack"), slack_ctx())


@pytest.fixture
def discord_chat(service: CommandService) -> Chat:
    return Chat(service, MemoryChat("discord"), discord_ctx(manage=True))


@dataclass
class Newsroom:
    """Puts stories in the store the way ingest does (with their detected tickers)."""

    store: SqlStore
    clock: ManualClock
    count: int = 0

    async def publish(
        self,
        title: str,
        *,
        tickers: Sequence[str] = (),
        summary: str = "",
        source: str = "Reuters",
        age: timedelta = timedelta(minutes=12),
    ) -> Story:
        self.count += 1
        when: datetime = self.clock.now() - age
        story = Story(
            id=f"s{self.count}",
            title=title,
            link=f"https://news.example.com/{self.count}",
            canonical_url=f"https://news.example.com/{self.count}",
            summary=summary,
            source=source,
            published_at=when,
            first_seen_at=when,
            tickers=tuple(tickers),
        )
        await self.store.save_ingest(IngestBatch(new_stories=[story]))
        return story


@pytest.fixture
async def news(sqlite_store: SqlStore, clock: ManualClock) -> AsyncIterator[Newsroom]:
    yield Newsroom(sqlite_store, clock)
