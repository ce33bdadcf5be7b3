"""/feed and /watch status from chat (issue 18), through the real slack_bolt and discord.py against
the loopback fakes, the real CommandService over SQLite and the real fetcher + SSRF guard.

The feed host listens on 127.0.0.1 (private: never opened) and 127.0.0.2 (opened with
``chat_feeds.allow_networks: [127.0.0.2/32]``, as an operator opens an intranet range). A hosts
resolver maps test names the way DNS would, so "a name that resolves to 127.0.0.1" is a real
lookup by aiohttp, not a mock of our code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.discord_bot import DiscordAdapter
from bot.chat.slack_app import SlackAdapter
from bot.commands import CommandService
from bot.config import BotConfig, parse_config
from bot.domain.models import ChannelRef, Quote, SubscriptionOptions
from bot.domain.records import SubscriptionSpec
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.ingest.fetcher import Fetcher
from bot.ingest.probe import FeedProbe
from bot.store import SqlStore
from tests.fakes.discord import EVERYONE_DEFAULT, MANAGE_CHANNELS, DiscordFake, World
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.slack import FakeSlack
from tests.support.resolver import HostsResolver

MANAGE_GUILD = 1 << 5
CONFIG = """
timezone: America/New_York
admins: ["slack:U0CONFIG01"]
chat_feeds: {allow_networks: [127.0.0.2/32], limit_per_workspace: 2}
watchlists:
  - name: chips
    tickers: [NVDA, AMD]
    keywords: [semiconductor*]
"""
GENERAL = "C0GENERAL1"
WIRE = rss(
    [
        entry(
            "Nvidia semiconductor sales jump",
            "https://wire.test/1",
            published=datetime(2026, 11, 25, 12, tzinfo=UTC),
        ),
        entry("Oil steadies", "https://wire.test/2", published=datetime(2026, 11, 25, 11, tzinfo=UTC)),
        entry("Bonds rally", "https://wire.test/3", published=datetime(2026, 11, 25, 10, tzinfo=UTC)),
        entry("Old news", "https://wire.test/4", published=datetime(2026, 11, 20, 10, tzinfo=UTC)),
    ],
    title="Loopback Wire",
)


class NoQuotes:
    async def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        return {
            s: Quote(s, None, None, None, None, None, None, reason="no prices in this test") for s in symbols
        }


@pytest.fixture
def config() -> BotConfig:
    return parse_config(CONFIG)


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost(["127.0.0.1", "127.0.0.2"]) as h:
        yield h


@pytest.fixture
async def service(
    sqlite_store: SqlStore, config: BotConfig, directory: SymbolDirectory, clock: ManualClock
) -> AsyncIterator[CommandService]:
    catalog = Catalog(store=sqlite_store, config_watchlists=config.domain_watchlists(), directory=directory)
    await catalog.reload()
    resolver = HostsResolver({"wire.intranet.test": "127.0.0.2", "rebind.example.com": "127.0.0.1"})
    async with Fetcher(
        config.ingest, allow_networks=config.chat_feeds.allow_networks, resolver=resolver
    ) as f:
        yield CommandService(
            sqlite_store,
            catalog,
            NoQuotes(),
            None,
            directory,
            command_options(config),
            clock,
            feeds=FeedProbe(f, clock=clock),
        )


# ---------------------------------------------------------------- Slack


async def says(
    fake: FakeSlack, text: str, user: str = "U0ADMIN001", command: str = "/feed"
) -> tuple[str, bool]:
    result = await fake.slash_command(command, text, user=user)
    [answer] = await result.wait_responses(1)
    return answer.visible, answer.ephemeral


async def test_a_valid_feed_without_items_yet_can_be_added(
    fake_slack: FakeSlack, slack: SlackAdapter, sqlite_store: SqlStore, host: FeedHost
) -> None:
    url = host.serve("/new-blog.xml", rss([], title="Brand New Blog"), host="127.0.0.2")
    text, private = await says(fake_slack, f"test {url}")
    assert (
        private
        and "Feed test: Brand New Blog" in text
        and "new-blog.xml: a valid feed with no items yet" in text
    )
    text, _ = await says(fake_slack, f"add {url}")
    assert "Feed added: Brand New Blog" in text and "polled every 5m; it has no items yet. New ones" in text
    assert [f.name for f in await sqlite_store.list_chat_feeds()] == ["Brand New Blog"]


async def test_slack_admin_tests_adds_lists_and_removes_a_feed(
    fake_slack: FakeSlack, slack: SlackAdapter, sqlite_store: SqlStore, host: FeedHost
) -> None:
    url = host.serve("/wire.xml", WIRE, host="127.0.0.2")
    text, private = await says(fake_slack, f"test {url}")
    assert private and "Feed test: Loopback Wire" in text and "4 items, the 3 newest below" in text
    assert "Nvidia semiconductor sales jump" in text and "would match chips" in text
    assert "Old news" not in text and "Wed 25 Nov 07:00 EST" in text
    assert await sqlite_store.list_chat_feeds() == []  # a test adds nothing

    named = url.replace("127.0.0.2", "wire.intranet.test")
    text, private = await says(fake_slack, f"add <{named}> every 10m name Intranet Wire")
    assert private and "Feed added: Intranet Wire" in text and "polled every 10m; it has 4 items now" in text
    (feed,) = await sqlite_store.list_chat_feeds()
    assert (feed.scope, feed.name, feed.url, feed.interval, feed.added_by) == (
        f"slack:{fake_slack.team_id}",
        "Intranet Wire",
        named,
        600,
        "slack:U0ADMIN001",
    )
    text, _ = await says(fake_slack, "list", user="U0CONFIG01")  # a config admin may too
    assert (
        "Intranet Wire" in text
        and "every 10m" in text
        and "not polled yet" in text
        and "1 of 2 feeds" in text
    )

    text, _ = await says(fake_slack, f"add {url}")  # its own title as the name
    assert "Feed added: Loopback Wire" in text
    text, _ = await says(fake_slack, f"add {host.url('/other.xml', '127.0.0.2')}")
    assert "This workspace has 2 feeds, the limit" in text
    text, _ = await says(fake_slack, "remove intranet wire")
    assert "Feed removed: Intranet Wire" in text and "is no longer polled" in text
    text, _ = await says(fake_slack, "remove intranet wire")
    assert "There is no feed called 'intranet wire' here. Feeds: Loopback Wire." in text
    assert [f.name for f in await sqlite_store.list_chat_feeds()] == ["Loopback Wire"]


async def test_slack_members_cannot_manage_feeds(
    fake_slack: FakeSlack, slack: SlackAdapter, sqlite_store: SqlStore, host: FeedHost
) -> None:
    url = host.serve("/wire.xml", WIRE, host="127.0.0.2")
    for text in (f"add {url}", "list", f"test {url}", "remove x"):
        shown, private = await says(fake_slack, text, user="U0USER0001")
        assert private and "Only admins can manage feeds" in shown, text
    assert await sqlite_store.list_chat_feeds() == []
    assert host.hits.get("/wire.xml") is None


async def test_slack_bad_feeds_get_one_line_and_nothing_is_stored(
    fake_slack: FakeSlack, slack: SlackAdapter, sqlite_store: SqlStore, host: FeedHost
) -> None:
    private_feed = host.serve("/private.xml", WIRE)  # on 127.0.0.1
    host.serve("/jump", b"", behaviour="redirect", location=private_feed, host="127.0.0.2")
    page = b'<!doctype html><html><head><link rel="alternate" type="application/atom+xml" href="/atom"></head></html>'
    cases = {
        f"add {private_feed}": "Not added: blocked: 127.0.0.1 is not a public address",
        "add http://10.0.0.1/rss": "Not added: blocked: 10.0.0.1 is not a public address",
        "add http://169.254.169.254/latest/meta-data/": "Not added: blocked: 169.254.169.254 is not a public address",
        f"add {private_feed.replace('127.0.0.1', 'rebind.example.com')}": "Not added: blocked: 127.0.0.1",
        f"add {host.url('/jump', '127.0.0.2')}": "Not added: blocked: 127.0.0.1",
        f"add {host.serve('/page', page, content_type='text/html', host='127.0.0.2')}": (
            f"Not added: this is a web page, not a feed: try its feed {host.url('/atom', '127.0.0.2')}"
        ),
        f"add {host.serve('/huge', b'', behaviour='huge', huge_bytes=50 * 1024 * 1024, host='127.0.0.2')}": (
            "Not added: body is 50.0 MB, over the 5.0 MB limit"
        ),
        "add ftp://feeds.test/rss": "'ftp://feeds.test/rss' is not a feed URL: write one that starts with http://",
        "add https://wire.test/rss every 10": "'10' is not an interval: write every 5m",
        "add https://wire.test/rss every 1m": "every 1m is out of range: a chat feed is polled every 5m at the most",
        "add https://wire.test/rss name": "needs a NAME after name",
        "add https://wire.test/rss name <b>": "'<b>' cannot be a feed name",
        "add https://wire.test/rss sometimes": "Unexpected 'sometimes' after the command",
        "tset https://wire.test/rss": "/feed has no command 'tset'. Did you mean /feed test?",
        "add": "/feed add URL [every 5m] [name NAME...] needs a feed URL",
    }
    for text, expected in cases.items():
        shown, private = await says(fake_slack, text)
        assert private and expected in shown, (text, shown)
    assert await sqlite_store.list_chat_feeds() == []
    assert host.hits.get("/private.xml") is None


async def test_slack_feed_help_and_watch_status(
    fake_slack: FakeSlack, slack: SlackAdapter, sqlite_store: SqlStore, host: FeedHost, clock: ManualClock
) -> None:
    text, private = await says(fake_slack, "help", user="U0USER0001")
    assert private and "/feed add URL [every 5m] [name NAME...]" in text and "/feed test URL" in text
    text, _ = await says(fake_slack, "help remove", user="U0USER0001")
    assert "/feed remove NAME" in text and "/feed add" not in text

    url = host.serve("/wire.xml", WIRE, host="127.0.0.2")
    await says(fake_slack, f"add {url} name Wire")
    await says(fake_slack, "subscribe chips", command="/watch")
    await sqlite_store.sync_config_subscriptions(
        [
            SubscriptionSpec(
                "chips", ChannelRef("slack", "C0DESK0001", fake_slack.team_id), SubscriptionOptions()
            )
        ]
    )
    text, private = await says(fake_slack, "status", command="/watch", user="U0USER0001")
    assert private and "Status of this workspace" in text
    assert (
        "1 feed added here · 2 subscriptions in 2 channels · 0 alerts queued, 0 held. Times in America/New_York."
        in (text)
    )
    assert "Feed Wire" in text and "not polled yet" in text
    assert f"#{GENERAL} (this channel)" in text and "chips" in text and "no alert sent yet" in text
    assert "#C0DESK0001" in text and "from the config file" in text


# ---------------------------------------------------------------- Discord


async def test_discord_feed_commands_need_manage_server(
    fake_discord: DiscordFake,
    world: World,
    discord_bot: DiscordAdapter,
    sqlite_store: SqlStore,
    host: FeedHost,
) -> None:
    registered = {c["name"]: c for c in fake_discord.commands(world.guild.id)}
    feed = registered["feed"]
    assert int(feed["default_member_permissions"]) == MANAGE_GUILD
    subs = {o["name"]: o for o in feed["options"]}
    assert list(subs) == ["add", "list", "remove", "test", "help"]
    assert [o["name"] for o in subs["add"]["options"]] == ["url", "every", "name"]
    assert subs["remove"]["options"][0]["autocomplete"] is True
    assert "status" in {o["name"] for o in registered["watch"]["options"]}

    owner = world.guild.add_member("olga", permissions=EVERYONE_DEFAULT | MANAGE_GUILD)
    url = host.serve("/wire.xml", WIRE, host="127.0.0.2")
    ix = await fake_discord.slash(owner, world.channel, "feed add", url=url, every="15m", name="Wire")
    reply = await ix.reply()
    assert (
        reply.ephemeral and "Feed added: Wire" in reply.visible_text() and "every 15m" in reply.visible_text()
    )
    (stored,) = await sqlite_store.list_chat_feeds(f"discord:{world.guild.id}")
    assert stored.interval == 900 and stored.added_by == f"discord:{owner.id}"

    choices = await fake_discord.autocomplete(owner, world.channel, "feed remove", focused="name", name="wi")
    assert [c["value"] for c in choices] == ["Wire"]

    ix = await fake_discord.slash(world.moderator, world.channel, "watch subscribe", name="chips")
    await ix.reply()
    ix = await fake_discord.slash(world.member, world.channel, "watch status", bypass_permissions=True)
    status = await ix.reply()
    assert status.ephemeral and "Status of this workspace" in status.visible_text()
    assert "1 feed added here · 1 subscription in 1 channel" in status.visible_text()
    assert (
        "Feed Wire" in status.visible_text()
        and f"#{world.channel.id} (this channel)" in status.visible_text()
    )

    # Manage Channels is enough for /watch, not for feeds (a server admin may have shown /feed to them)
    mod = world.guild.add_member("mo", permissions=EVERYONE_DEFAULT | MANAGE_CHANNELS)
    ix = await fake_discord.slash(mod, world.channel, "feed remove", name="Wire", bypass_permissions=True)
    reply = await ix.reply()
    assert reply.ephemeral and "Only admins can manage feeds" in reply.visible_text()

    ix = await fake_discord.slash(owner, world.channel, "feed test", url="http://169.254.169.254/latest/")
    assert "blocked: 169.254.169.254 is not a public address" in (await ix.reply()).visible_text()
    ix = await fake_discord.slash(owner, world.channel, "feed remove", name="Wire")
    assert "Feed removed: Wire" in (await ix.reply()).visible_text()
    assert await sqlite_store.list_chat_feeds() == []
