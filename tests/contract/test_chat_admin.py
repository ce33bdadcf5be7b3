"""Running the bot from chat (issue 18): subscription options, /feed and /watch status, through the
real slack_bolt and discord.py against the loopback fakes, with the real CommandService over SQLite.

A test acts as a user typing a command (``FakeSlack.slash_command``, ``DiscordFake.slash``) and
checks what that user sees and what was stored.
"""

from __future__ import annotations

import pytest

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.discord_bot import DiscordAdapter
from bot.chat.slack_app import SlackAdapter
from bot.commands import CommandService
from bot.config import BotConfig, parse_config
from bot.domain.models import ChannelRef
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.market.memory import MemoryQuotes
from bot.store import SqlStore
from tests.fakes.discord import DiscordFake, World
from tests.fakes.slack import FakeSlack

CONFIG = """
timezone: America/New_York
admins: ["slack:U0CONFIG01"]
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
  - name: chips
    tickers: [NVDA, AMD]
    keywords: [semiconductor*]
"""
GENERAL = "C0GENERAL1"


@pytest.fixture
def config() -> BotConfig:
    return parse_config(CONFIG)


@pytest.fixture
async def service(
    sqlite_store: SqlStore, config: BotConfig, directory: SymbolDirectory, clock: ManualClock
) -> CommandService:
    catalog = Catalog(store=sqlite_store, config_watchlists=config.domain_watchlists(), directory=directory)
    await catalog.reload()
    return CommandService(
        sqlite_store, catalog, MemoryQuotes(clock), None, directory, command_options(config), clock
    )


# ---------------------------------------------------------------- Slack


async def slack_says(fake: FakeSlack, command: str, text: str, user: str = "U0USER0001") -> tuple[str, bool]:
    """What ``user`` reads after typing ``command text``, and whether only they see it."""
    result = await fake.slash_command(command, text, user=user)
    [answer] = await result.wait_responses(1)
    return answer.visible, answer.ephemeral


async def test_slack_subscribe_with_options_and_change_them(
    fake_slack: FakeSlack, slack: SlackAdapter, sqlite_store: SqlStore
) -> None:
    text, private = await slack_says(
        fake_slack, "/watch", "subscribe cloud-china quiet 22:00-06:00 max 10/h sessions pre-market, regular"
    )
    assert not private
    assert "with quiet 22:00-06:00 EST, max 10/h, sessions pre-market,regular" in text
    text, private = await slack_says(fake_slack, "/watch", "options cloud-china min-move 2% threads off")
    assert "Changed cloud-china in this channel: min-move 2%, threads off" in text
    text, private = await slack_says(fake_slack, "/watch", "subscriptions")
    assert private and "quiet 22:00-06:00 EST · max 10/h · min-move 2% · sessions pre-market,regular" in text

    text, private = await slack_says(fake_slack, "/watch", "options cloud-china quiet 10pm-6am")
    assert private and "'10pm-6am' is not a quiet-hours window" in text
    text, private = await slack_says(fake_slack, "/watch", "help options")
    assert private and "/watch options NAME [OPTIONS]" in text
    (sub,) = await sqlite_store.list_subscriptions(channel=ChannelRef("slack", GENERAL))
    assert sub.options.min_move_pct == 2.0 and not sub.options.threads
    assert str(sub.options.quiet_hours) == "22:00-06:00"


# ---------------------------------------------------------------- Discord


async def test_discord_subscribe_with_option_fields(
    fake_discord: DiscordFake, world: World, discord_bot: DiscordAdapter, sqlite_store: SqlStore
) -> None:
    registered = {c["name"]: c for c in fake_discord.commands(world.guild.id)}["watch"]
    subscribe = next(o for o in registered["options"] if o["name"] == "subscribe")
    fields = {o["name"]: o for o in subscribe["options"]}
    assert list(fields) == ["name", "quiet", "max", "min-move", "sessions", "threads", "briefing"]
    assert fields["sessions"]["autocomplete"] is True
    assert [c["value"] for c in fields["briefing"]["choices"]] == ["premarket", "off"]
    assert (fields["max"]["min_value"], fields["max"]["max_value"]) == (0, 3600)

    ix = await fake_discord.slash(
        world.moderator,
        world.channel,
        "watch subscribe",
        name="chips",
        quiet="22:00-06:00",
        sessions="pre-market,regular",
        threads=False,
        briefing="premarket",
        max=5,
    )
    reply = await ix.reply()
    assert not reply.ephemeral
    assert "quiet 22:00-06:00 EST, max 5/h, sessions pre-market,regular, threads off, briefing premarket" in (
        reply.visible_text()
    )
    ix = await fake_discord.slash(world.moderator, world.channel, "watch options", name="chips", max=0)
    assert "max off" in (await ix.reply()).visible_text()
    (sub,) = await sqlite_store.list_subscriptions(channel=ChannelRef("discord", str(world.channel.id)))
    assert (sub.options.max_per_hour, sub.options.briefing, sub.options.threads) == (None, "premarket", False)

    ix = await fake_discord.slash(
        world.moderator, world.channel, "watch options", name="chips", **{"min-move": "lots"}
    )
    reply = await ix.reply()
    assert reply.ephemeral and "'lots' is not a percentage" in reply.visible_text()


async def test_discord_autocompletes_sessions_as_a_comma_list(
    fake_discord: DiscordFake, world: World, discord_bot: DiscordAdapter
) -> None:
    choices = await fake_discord.autocomplete(
        world.moderator,
        world.channel,
        "watch subscribe",
        focused="sessions",
        name="chips",
        sessions="pre-market,r",
    )
    assert [c["value"] for c in choices] == ["pre-market,regular"]
    choices = await fake_discord.autocomplete(
        world.moderator, world.channel, "watch options", focused="sessions", name="chips", sessions=""
    )
    assert [c["value"] for c in choices] == ["pre-market", "regular", "after-hours", "closed", "all"]
