"""/quote, /news and /watch on Discord: real discord.py, the fake Discord, and the real CommandService.

The handler is the bot's own ``CommandService`` over a real SQLite store, with a quote source
that waits until the test lets it answer (a slow market, deterministically) and a chart source
that draws a real PNG with matplotlib. A test acts as a Discord user (``fake.slash``) and checks
what that user sees: the "thinking…" state, the final answer, its chart, who else can see it.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.discord_bot import MSG_NEEDS_MANAGE, WATCH_SUBCOMMANDS, DiscordAdapter
from bot.commands import CommandService
from bot.config import BotConfig, parse_config
from bot.domain.models import ChannelRef
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.market.memory import MemoryQuotes
from bot.store import SqlStore
from tests.fakes.discord import (
    EPHEMERAL,
    DiscordFake,
    UserCannotDoThat,
    World,
    render_markdown,
)
from tests.support.wait import wait_until

CONFIG = """
timezone: America/New_York
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
"""


class MatplotlibCharts:
    """A ChartSource that draws a real line chart (matplotlib, in a worker thread)."""

    def __init__(self) -> None:
        self.drawn: list[bytes] = []

    async def chart(self, symbol: str) -> bytes:
        def draw() -> bytes:
            import matplotlib

            matplotlib.use("Agg")
            from matplotlib.figure import Figure

            fig = Figure(figsize=(4, 2), dpi=50)
            ax = fig.add_subplot()
            ax.plot([180.0, 181.5, 180.7, 182.1, 181.2])
            ax.set_title(symbol)
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            return buf.getvalue()

        png = await asyncio.to_thread(draw)
        self.drawn.append(png)
        return png


@pytest.fixture
def config() -> BotConfig:
    return parse_config(CONFIG)


@pytest.fixture
def quotes(clock: ManualClock) -> MemoryQuotes:
    """A quote service that answers only when the test opens the gate: a slow market, on demand."""
    quotes = MemoryQuotes(clock, {"AMZN": (181.20, 182.70), "MSFT": (415.0, 410.0)})
    quotes.gate = asyncio.Event()
    return quotes


@pytest.fixture
def charts() -> MatplotlibCharts:
    return MatplotlibCharts()


@pytest.fixture
async def service(
    sqlite_store: SqlStore,
    config: BotConfig,
    directory: SymbolDirectory,
    quotes: MemoryQuotes,
    charts: MatplotlibCharts,
    clock: ManualClock,
) -> CommandService:
    catalog = Catalog(store=sqlite_store, config_watchlists=config.domain_watchlists(), directory=directory)
    await catalog.reload()
    return CommandService(sqlite_store, catalog, quotes, charts, directory, command_options(config), clock)


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as server:
        yield server


@pytest.fixture
def world(fake: DiscordFake) -> World:
    return fake.world()


@pytest.fixture
async def bot(fake: DiscordFake, world: World, service: CommandService) -> AsyncIterator[DiscordAdapter]:
    async with DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        commands=service,
        guild_ids=[world.guild.id],
    ) as adapter:
        yield adapter


# ---------------------------------------------------------------- registration


async def test_commands_are_registered_globally_without_guild_ids(fake: DiscordFake, world: World) -> None:
    async with DiscordAdapter(
        token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url
    ) as adapter:
        assert adapter.synced == {None: 4}
    by_name = {c["name"]: c for c in fake.commands()}
    assert set(by_name) == {"quote", "news", "watch", "feed"}
    assert by_name["feed"]["default_member_permissions"] == "32"  # Manage Server
    watch = by_name["watch"]
    assert watch["default_member_permissions"] == "16"  # Manage Channels
    assert watch["dm_permission"] is False
    assert [o["name"] for o in watch["options"]] == list(WATCH_SUBCOMMANDS)
    assert by_name["quote"]["default_member_permissions"] is None
    show = next(o for o in watch["options"] if o["name"] == "show")
    assert show["options"][0]["autocomplete"] is True
    assert fake.guild_commands == {}


async def test_commands_sync_to_each_guild_and_clear_the_global_list(
    fake: DiscordFake, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    other = fake.add_guild("Other desk")
    no_scope = fake.add_guild("Invited without applications.commands", commands_scope=False)
    fake.global_commands = [{"id": "1", "name": "stale", "type": 1}]
    caplog.set_level(logging.ERROR, "bot.chat.discord_bot")
    async with DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_ids=[world.guild.id, no_scope.id, other.id],
    ) as adapter:
        assert adapter.synced == {world.guild.id: 4, other.id: 4, None: 0}
    for gid in (world.guild.id, other.id):
        assert {c["name"] for c in fake.commands(gid)} == {"quote", "news", "watch", "feed"}
    assert no_scope.id not in fake.guild_commands
    assert fake.global_commands == []
    assert "marketbot discord invite" in caplog.text and str(no_scope.id) in caplog.text


# ---------------------------------------------------------------- commands


async def test_watch_subscribe_subscribes_this_channel(
    fake: DiscordFake, world: World, bot: DiscordAdapter, sqlite_store: SqlStore
) -> None:
    ix = await fake.slash(world.moderator, world.channel, "watch subscribe", name="cloud-china")
    reply = await ix.reply()

    assert ix.callbacks[0]["type"] == 4, "a quick command is answered at once, not deferred"
    assert not reply.ephemeral and reply in fake.messages(world.channel.id)
    assert "cloud-china" in reply.visible_text()
    subs = await sqlite_store.list_subscriptions(channel=ChannelRef("discord", str(world.channel.id)))
    assert [(s.watchlist, s.channel.channel) for s in subs] == [("cloud-china", str(world.channel.id))]
    assert reply.request["allowed_mentions"]["parse"] == []


async def test_quote_is_deferred_then_answered_with_a_chart(
    fake: DiscordFake, world: World, bot: DiscordAdapter, quotes: MemoryQuotes, charts: MatplotlibCharts
) -> None:
    ix = await fake.slash(world.member, world.channel, "quote", tickers="AMZN")
    ack = await ix.ack()
    assert ack["type"] == 5 and not int((ack.get("data") or {}).get("flags") or 0) & EPHEMERAL
    await wait_until(lambda: bool(quotes.calls), what="the /quote handler asking for prices")
    assert ix.replies() == [], "while the market is slow the user sees only 'thinking…'"
    (thinking,) = [m for m in fake.messages(world.channel.id) if m.loading]

    assert quotes.gate is not None
    quotes.gate.set()
    reply = await ix.reply()

    assert reply is thinking and not reply.loading, "the follow-up replaced the thinking message"
    assert not reply.ephemeral
    (embed,) = reply.embeds
    assert embed["fields"][0]["name"] == "▼ AMZN"
    assert embed["fields"][0]["value"] == "$181.20 · −0.82% · pre-market"
    png = reply.file("AMZN.png")
    assert png == charts.drawn[0] and png.startswith(b"\x89PNG")
    assert embed["image"]["url"] == reply.attachments[0]["url"]
    async with aiohttp.ClientSession() as http, http.get(embed["image"]["url"]) as resp:
        assert await resp.read() == png, "the image a reader opens is the chart"
    (followup,) = fake.requests_to("POST /webhooks/{application_id}/{token}")
    assert followup.json["allowed_mentions"]["parse"] == []


async def test_a_private_answer_after_a_public_defer_is_shown_only_to_the_asker(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    """/news with nothing to show is private; the public "thinking…" message is removed."""
    ix = await fake.slash(world.member, world.channel, "news", ticker="AMZN")
    reply = await ix.reply()
    assert ix.deferred
    assert reply.ephemeral
    assert "AMZN" in reply.visible_text()
    assert fake.messages(world.channel.id) == [], "the channel sees nothing"
    assert ix.original is not None and ix.original.deleted


async def test_a_usage_error_is_private_and_says_what_to_type(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    ix = await fake.slash(world.moderator, world.channel, "watch show", name="no-such-list")
    reply = await ix.reply()
    assert reply.ephemeral and ix.callbacks[0]["type"] == 4
    assert "no-such-list" in reply.visible_text()


async def test_watch_help_is_private(fake: DiscordFake, world: World, bot: DiscordAdapter) -> None:
    ix = await fake.slash(world.moderator, world.channel, "watch help")
    reply = await ix.reply()
    assert reply.ephemeral
    assert "/watch subscribe" in reply.visible_text()


async def test_create_and_query_reach_the_grammar_intact(
    fake: DiscordFake, world: World, bot: DiscordAdapter, sqlite_store: SqlStore
) -> None:
    ix = await fake.slash(
        world.moderator, world.channel, "watch create", name="chips", items='$NVDA AMD "export control" chip*'
    )
    reply = await ix.reply()
    assert not reply.ephemeral, reply.visible_text()
    stored = await sqlite_store.get_watchlist(f"discord:{world.guild.id}", "chips")
    assert stored is not None
    assert set(stored.tickers) == {"NVDA", "AMD"}
    assert set(stored.keywords) >= {"export control", "chip*"}

    query = '($NVDA OR $AMD) AND "export control"'
    ix = await fake.slash(world.moderator, world.channel, "watch query", name="chips", query=query)
    await ix.reply()
    stored = await sqlite_store.get_watchlist(f"discord:{world.guild.id}", "chips")
    assert stored is not None and stored.query == query


async def test_watch_is_hidden_from_members_without_manage_channels(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    with pytest.raises(UserCannotDoThat, match="hidden"):
        await fake.slash(world.member, world.channel, "watch subscribe", name="cloud-china")


async def test_changes_are_refused_at_runtime_when_an_admin_opened_watch_to_everyone(
    fake: DiscordFake, world: World, bot: DiscordAdapter, sqlite_store: SqlStore
) -> None:
    """Server admins can override default_member_permissions; the bot still checks."""
    ix = await fake.slash(
        world.member, world.channel, "watch subscribe", bypass_permissions=True, name="cloud-china"
    )
    reply = await ix.reply()
    assert reply.ephemeral
    assert render_markdown(reply.embeds[0]["description"]).text == MSG_NEEDS_MANAGE
    assert await sqlite_store.list_subscriptions(channel=ChannelRef("discord", str(world.channel.id))) == []

    ix = await fake.slash(world.member, world.channel, "watch list", bypass_permissions=True)
    reply = await ix.reply()
    assert "cloud-china" in reply.visible_text(), "reading is fine for everyone"


async def test_autocomplete_offers_watchlists_and_tickers(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    names = await fake.autocomplete(world.moderator, world.channel, "watch show", focused="name", name="clo")
    assert [c["value"] for c in names] == ["cloud-china"]

    tickers = await fake.autocomplete(
        world.member, world.channel, "quote", focused="tickers", tickers="MSFT AMZ"
    )
    values = [c["value"] for c in tickers]
    assert values[0] == "MSFT AMZN" and all(v.startswith("MSFT ") for v in values)
    assert len(values) <= 25

    one = await fake.autocomplete(world.member, world.channel, "news", focused="ticker", ticker="nvd")
    assert "NVDA" in [c["value"] for c in one]


async def test_mute_then_unmute(fake: DiscordFake, world: World, bot: DiscordAdapter) -> None:
    await (await fake.slash(world.moderator, world.channel, "watch subscribe", name="cloud-china")).reply()
    muted = await (await fake.slash(world.moderator, world.channel, "watch mute", duration="2h")).reply()
    assert "2h" in muted.visible_text() or "2 h" in muted.visible_text()
    unmuted = await (await fake.slash(world.moderator, world.channel, "watch unmute")).reply()
    assert not unmuted.ephemeral


async def test_commands_still_work_after_the_gateway_resumes(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    await fake.request_reconnect()
    await fake.wait_for(lambda: fake.resume_count == 1, what="a RESUME")
    reply = await (await fake.slash(world.moderator, world.channel, "watch list")).reply()
    assert "cloud-china" in reply.visible_text()
