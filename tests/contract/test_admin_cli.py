"""``marketbot feeds add|list|remove|test`` and ``marketbot subscriptions set`` as an operator runs
them: a real subprocess, a config file, a SQLite file, and the feed host on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.models import ChannelRef
from bot.store import open_store
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.support.cli import Run, cli_env
from tests.support.cli import marketbot as run_cli

CONFIG = """
timezone: America/New_York
chat_feeds: {allow_networks: [127.0.0.2/32]}
watchlists:
  - name: chips
    tickers: [NVDA, AMD]
    keywords: [semiconductor*]
"""
WIRE = rss(
    [
        entry(
            "Nvidia semiconductor sales jump",
            "https://wire.test/1",
            published=datetime(2026, 11, 25, 12, tzinfo=UTC),
        ),
        entry("Oil steadies", "https://wire.test/2", published=datetime(2026, 11, 25, 11, tzinfo=UTC)),
    ],
    title="Loopback Wire",
)


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost(["127.0.0.1", "127.0.0.2"]) as h:
        yield h


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "bot.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


async def marketbot(*args: str, setup: tuple[Path, str]) -> Run:
    config, db_url = setup
    env = cli_env({"MARKETBOT_DATABASE_URL": db_url, "MARKETBOT_CONFIG": str(config)})
    return await run_cli(args, env=env, cwd=config.parent)


async def test_feeds_add_list_test_remove(host: FeedHost, setup: tuple[Path, str]) -> None:
    url = host.serve("/wire.xml", WIRE, host="127.0.0.2")
    run = await marketbot("feeds", "test", url, "--workspace", "slack:T0123ABCD", setup=setup)
    assert run.code == 0, run.err
    assert "Feed test: Loopback Wire" in run.out and "would match chips" in run.out

    run = await marketbot(
        "feeds", "add", url, "-w", "slack:T0123ABCD", "--every", "15m", "--name", "Intranet Wire", setup=setup
    )
    assert run.code == 0, run.err
    assert "Feed added: Intranet Wire" in run.out and "polled every 15m" in run.out
    async with open_store(setup[1]) as store:
        (feed,) = await store.list_chat_feeds()
    assert (feed.scope, feed.name, feed.interval) == ("slack:T0123ABCD", "Intranet Wire", 900)
    assert feed.added_by.startswith("cli:")

    run = await marketbot("feeds", "list", "-w", "slack:T0123ABCD", "--json", setup=setup)
    assert run.code == 0, run.err
    listed = json.loads(run.out)
    assert (
        listed["items"][0]["text"] == f"Intranet Wire — {url}" and "every 15m" in listed["items"][0]["detail"]
    )
    run = await marketbot("feeds", "list", "-w", "discord:112233445566778899", setup=setup)
    assert run.code == 0 and "No feeds added here yet" in run.out  # another workspace's

    run = await marketbot("feeds", setup=setup)  # the operator's table lists it with the others
    assert run.code == 0 and "Intranet Wire" in run.out and "chat" in run.out

    run = await marketbot("feeds", "remove", "intranet wire", "-w", "slack:T0123ABCD", setup=setup)
    assert run.code == 0 and "Feed removed: Intranet Wire" in run.out
    async with open_store(setup[1]) as store:
        assert await store.list_chat_feeds() == []


async def test_feeds_refused_with_one_line_and_nothing_stored(
    host: FeedHost, setup: tuple[Path, str]
) -> None:
    private = host.serve("/private.xml", WIRE)  # 127.0.0.1 is not opened
    run = await marketbot("feeds", "add", private, "-w", "slack:T0123ABCD", setup=setup)
    assert run.code == 1 and run.out == ""
    assert "Not added: blocked: 127.0.0.1 is not a public address" in run.err
    run = await marketbot("feeds", "add", "ftp://x.test/rss", "-w", "slack:T0123ABCD", setup=setup)
    assert run.code == 2 and "'ftp://x.test/rss' is not a feed URL" in run.err
    run = await marketbot("feeds", "add", "https://x.test/rss", "-w", "T0123ABCD", setup=setup)
    assert run.code == 2 and "--workspace 'T0123ABCD' should be slack:TEAM_ID" in run.err
    async with open_store(setup[1]) as store:
        assert await store.list_chat_feeds() == []
    assert host.hits.get("/private.xml") is None


async def test_subscriptions_set_with_options(setup: tuple[Path, str]) -> None:
    run = await marketbot(
        "subscriptions", "set", "slack:C0123ABCD", "chips", "quiet", "22:00-06:00", "max", "10/h", setup=setup
    )
    assert run.code == 0, run.err
    assert "quiet 22:00-06:00 EST, max 10/h" in run.out
    run = await marketbot("subscriptions", "set", "slack:C0123ABCD", "chips", "min-move", "2%", setup=setup)
    assert run.code == 0 and "min-move 2%" in run.out
    run = await marketbot(
        "subscriptions", "set", "slack:C0123ABCD", "chips", "sessions", "lunch", setup=setup
    )
    assert run.code == 2 and "lunch" in run.err
    run = await marketbot("subscriptions", "set", "slack:nope", "chips", setup=setup)
    assert run.code == 2 and "Slack channel id 'nope'" in run.err
    async with open_store(setup[1]) as store:
        (sub,) = await store.list_subscriptions(channel=ChannelRef("slack", "C0123ABCD"))
    assert str(sub.options.quiet_hours) == "22:00-06:00" and sub.options.max_per_hour == 10
    assert (
        sub.options.min_move_pct == 2.0 and sub.created_by is not None and sub.created_by.startswith("cli:")
    )
    run = await marketbot("subscriptions", "--json", setup=setup)
    assert run.code == 0 and json.loads(run.out)[0]["watchlist"] == "chips"
