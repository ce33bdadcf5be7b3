"""Who may change what, enforced in the handlers (not only in the platforms' UI)."""

from __future__ import annotations

import pytest

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.memory import MemoryChat
from bot.commands import CommandService
from bot.config import BotConfig, CommandsConfig
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore

from .conftest import Chat, MemoryCharts, MemoryQuotes, discord_ctx, slack_ctx

CHANGES = (
    "/watch create mine NVDA",
    "/watch query mine2 '$NVDA AND chips'",
    "/watch subscribe cloud-china",
    "/watch mute 1h",
    "/watch unmute",
)
READS = (
    "/quote NVDA",
    "/news NVDA",
    "/watch list",
    "/watch show cloud-china",
    "/watch test cloud-china",
    "/watch subscriptions",
    "/watch help",
)


async def test_slack_member_edits_only_their_own_watchlists(chat: Chat, catalog: Catalog) -> None:
    await chat("/watch create mine NVDA cloud")
    for line in (
        "/watch add mine AMD",
        "/watch remove mine cloud",
        "/watch query mine '$NVDA'",
        "/watch delete mine",
    ):
        reply = await chat(line, user="U2")
        assert reply.error and reply.private and reply.title == "Not allowed"
        assert reply.text == (
            "Only the creator of 'mine', workspace admins and the bot's admins can change or delete it. "
            "You can make your own copy with /watch create."
        )
    wl = catalog.find("slack:T0001", "mine")
    assert wl is not None and wl.tickers == ("NVDA",) and wl.keywords == ("cloud",)
    # any member may still subscribe their channel to it
    assert not (await chat("/watch subscribe mine", user="U2")).error
    # the creator may edit it
    assert not (await chat("/watch add mine AMD")).error


@pytest.mark.parametrize(
    "who", [{"is_admin": True}, {"user": "UADMIN"}], ids=["workspace admin", "config admin"]
)
async def test_slack_admins_edit_any_watchlist(chat: Chat, catalog: Catalog, who: dict[str, object]) -> None:
    await chat("/watch create mine NVDA cloud")
    reply = await chat("/watch add mine AMD", **who)
    assert not reply.error
    reply = await chat("/watch delete mine", **who)
    assert reply.text == "Deleted watchlist mine."
    assert catalog.find("slack:T0001", "mine") is None


async def test_discord_changes_need_manage_channels(service: CommandService, sqlite_store: SqlStore) -> None:
    member = Chat(service, MemoryChat("discord"), discord_ctx(manage=False))
    moderator = Chat(service, MemoryChat("discord"), discord_ctx(user="700000000000000002", manage=True))
    await moderator("/watch subscribe cloud-china")
    for line in (*CHANGES, "/watch unsubscribe cloud-china"):
        reply = await member(line)
        assert reply.error and reply.private and reply.title == "Not allowed", line
        assert "needs the Manage Channels permission" in reply.text
    assert len(await sqlite_store.list_subscriptions(channel=moderator.ctx.channel)) == 1
    for line in READS:
        assert not (await member(line)).error, line


async def test_discord_manage_channels_edits_any_watchlist(service: CommandService) -> None:
    first = Chat(service, MemoryChat("discord"), discord_ctx(user="700000000000000002", manage=True))
    second = Chat(service, MemoryChat("discord"), discord_ctx(user="700000000000000003", manage=True))
    await first("/watch create mine NVDA")
    assert not (await second("/watch add mine AMD")).error
    assert not (await second("/watch delete mine")).error


async def test_discord_config_admin_needs_no_permission(service: CommandService) -> None:
    admin = Chat(service, MemoryChat("discord"), discord_ctx(user="900000000000000001", manage=False))
    assert not (await admin("/watch create mine NVDA")).error


@pytest.fixture
def restricted(
    sqlite_store: SqlStore,
    catalog: Catalog,
    quotes: MemoryQuotes,
    charts: MemoryCharts,
    directory: SymbolDirectory,
    config: BotConfig,
    clock: ManualClock,
) -> CommandService:
    cfg = config.model_copy(update={"commands": CommandsConfig(restrict_to_admins=True)})
    return CommandService(sqlite_store, catalog, quotes, charts, directory, command_options(cfg), clock)


async def test_restrict_to_admins(restricted: CommandService) -> None:
    member = Chat(restricted, MemoryChat("slack"), slack_ctx("U2"))
    admin = Chat(restricted, MemoryChat("slack"), slack_ctx("U3", admin=True))
    for line in CHANGES:
        reply = await member(line)
        assert reply.error and reply.private and reply.title == "Not allowed", line
        assert reply.text.startswith("Only admins can change watchlists and subscriptions in this workspace")
    for line in READS:
        assert not (await member(line)).error, line
    for line in CHANGES:
        assert not (await admin(line)).error, line
    # a discord moderator is not an admin either
    moderator = Chat(restricted, MemoryChat("discord"), discord_ctx(manage=True))
    assert (await moderator("/watch create mine NVDA")).title == "Not allowed"
