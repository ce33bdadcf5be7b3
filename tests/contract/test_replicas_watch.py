"""/watch edits racing across two replicas on one PostgreSQL, through the real command service.

Two runtimes (two replicas) each answer commands with their own catalog and their own
in-process edit lock; only the database coordinates them. Edits of one watchlist at the same
moment all land (no lost update), a retried ``/watch add`` adds once, a racing ``/watch create``
has one winner and one clear "already exists", nobody sees "Something went wrong", and every
answer reflects what the database holds, even before a replica's catalog followed the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.config import load_env, parse_config
from bot.domain.models import ChannelRef, CommandContext, Reply, Watchlist

pytestmark = pytest.mark.postgres

CONFIG = """
feeds: []
market: {quote_timeout: 2}
web: {enabled: false}
"""
GUILD = "111111111111111111"
SCOPE = f"discord:{GUILD}"


def moderator(user: str) -> CommandContext:
    return CommandContext(
        platform="discord",
        channel=ChannelRef("discord", "222222222222222222", workspace=GUILD),
        user=user,
        workspace=GUILD,
        can_manage=True,
    )


def text_of(reply: Reply) -> str:
    return " ".join([reply.title or "", reply.text or "", *(i.text for i in reply.items)])


@pytest.fixture
async def replicas(postgres: Any, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Runtime]]:
    url = await postgres.new_database()
    env = load_env(
        {
            "MARKETBOT_DATABASE_URL": url,
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_YAHOO_URL": "http://127.0.0.1:9",  # never asked: no ticker is quoted here
        },
        dotenv=None,
    )
    cfg = parse_config(CONFIG)
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        two = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        yield one, two


async def stored(rt: Runtime, name: str) -> Watchlist:
    wl = await rt.store.get_watchlist(SCOPE, name)
    assert wl is not None
    return wl


async def test_racing_adds_all_land_and_a_retried_add_adds_once(replicas: tuple[Runtime, Runtime]) -> None:
    one, two = replicas
    created = await one.commands.handle(moderator("u1"), "watch", "create chips $NVDA")
    assert not created.error, text_of(created)

    # eight people add eight different tickers at once, half through each replica; replica two
    # has not even compiled "chips" yet (its catalog follows every 2 s in the running bot)
    assert two.catalog.find(SCOPE, "chips") is None
    tickers = ["AMD", "INTC", "TSM", "ASML", "MU", "QCOM", "AVGO", "ARM"]
    replies = await asyncio.gather(
        *(
            (one if i % 2 else two).commands.handle(moderator(f"u{i}"), "watch", f"add chips ${t}")
            for i, t in enumerate(tickers)
        )
    )
    for reply in replies:
        assert not reply.error, text_of(reply)
        assert "Something went wrong" not in text_of(reply)
    assert sorted((await stored(one, "chips")).tickers) == sorted(["NVDA", *tickers]), "no lost update"

    # a retried add (the same interaction answered twice, two replicas, or a double click)
    again = await asyncio.gather(
        one.commands.handle(moderator("u1"), "watch", 'add chips "export control"'),
        two.commands.handle(moderator("u1"), "watch", 'add chips "export control"'),
    )
    assert not any(r.error for r in again), [text_of(r) for r in again]
    assert (await stored(one, "chips")).keywords == ("export control",), "added once"
    kept = [r for r in again if r.private]
    assert len(kept) == 1 and "already" in text_of(kept[0]).lower(), [text_of(r) for r in again]

    # both replicas' answers and catalogs agree with the database
    for rt in (one, two):
        await rt.follow_catalog()
        found = rt.catalog.find(SCOPE, "chips")
        assert found is not None and sorted(found.tickers) == sorted(["NVDA", *tickers])
        shown = await rt.commands.handle(moderator("u9"), "watch", "show chips")
        assert "ARM" in str(shown.fields) and "export control" in str(shown.fields)


async def test_racing_removes_and_adds_on_one_watchlist_keep_every_change(
    replicas: tuple[Runtime, Runtime],
) -> None:
    one, two = replicas
    await one.commands.handle(moderator("u1"), "watch", "create semis $NVDA $AMD $INTC $TSM")
    replies = await asyncio.gather(
        two.commands.handle(moderator("u2"), "watch", "remove semis $INTC"),
        one.commands.handle(moderator("u3"), "watch", "add semis $MU"),
        two.commands.handle(moderator("u4"), "watch", "remove semis $TSM"),
        one.commands.handle(moderator("u5"), "watch", "add semis $ASML"),
    )
    assert not any(r.error for r in replies), [text_of(r) for r in replies]
    assert sorted((await stored(two, "semis")).tickers) == ["AMD", "ASML", "MU", "NVDA"]


async def test_a_racing_create_has_one_winner_and_a_clear_already_exists(
    replicas: tuple[Runtime, Runtime],
) -> None:
    one, two = replicas
    for n in range(5):
        a, b = await asyncio.gather(
            one.commands.handle(moderator("alice"), "watch", f"create cloud{n} $AMZN"),
            two.commands.handle(moderator("bob"), "watch", f"create CLOUD{n} $MSFT"),
        )
        assert [a.error, b.error].count(True) == 1, (text_of(a), text_of(b))
        loser = a if a.error else b
        assert "already a watchlist named" in text_of(loser), text_of(loser)
        assert "Something went wrong" not in text_of(loser)
        wl = await stored(one, f"cloud{n}")
        assert wl.tickers == (("AMZN",) if b.error else ("MSFT",))
        # the loser's replica can use the winner's watchlist at once, although its catalog has
        # not followed yet
        added = await (two if b.error else one).commands.handle(
            moderator("carol"), "watch", f"add cloud{n} $GOOGL"
        )
        assert not added.error, text_of(added)
    assert len(await one.store.list_watchlists(SCOPE)) == 5


async def test_an_edit_of_a_watchlist_deleted_elsewhere_says_so(replicas: tuple[Runtime, Runtime]) -> None:
    one, two = replicas
    await one.commands.handle(moderator("u1"), "watch", "create gone $NVDA")
    await two.follow_catalog()
    assert two.catalog.find(SCOPE, "gone") is not None
    deleted = await one.commands.handle(moderator("u1"), "watch", "delete gone")
    assert not deleted.error, text_of(deleted)
    # replica two still has it compiled; the database says it is gone
    reply = await two.commands.handle(moderator("u2"), "watch", "add gone $AMD")
    assert reply.error and "There is no watchlist named 'gone'" in text_of(reply), text_of(reply)
    again = await two.commands.handle(moderator("u2"), "watch", "delete gone")
    assert again.error and "no watchlist named" in text_of(again)


async def test_store_create_and_update_on_both_backends(store: Any) -> None:
    wl = Watchlist(name="Chips", scope="slack:T1", tickers=("NVDA",), created_by="U1")
    assert await store.create_watchlist(wl) is True
    assert await store.create_watchlist(Watchlist(name="CHIPS", scope="slack:T1", tickers=("AMD",))) is False
    assert (await store.get_watchlist("slack:T1", "chips")).tickers == ("NVDA",)

    def add_amd(current: Watchlist) -> Watchlist | None:
        if "AMD" in current.tickers:
            return None
        return replace(current, tickers=(*current.tickers, "AMD"))

    before, after = await store.update_watchlist("slack:T1", "CHIPS", add_amd)
    assert before.tickers == ("NVDA",) and after is not None and after.tickers == ("NVDA", "AMD")
    assert await store.update_watchlist("slack:T1", "chips", add_amd) == (after, None)
    assert await store.update_watchlist("slack:T1", "nope", add_amd) is None

    def refuse(current: Watchlist) -> Watchlist:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.update_watchlist("slack:T1", "chips", refuse)
    assert (await store.get_watchlist("slack:T1", "chips")).tickers == ("NVDA", "AMD")
