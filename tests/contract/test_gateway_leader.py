"""One Discord gateway session across replicas: the holder of the gateway lease runs it.

Two real ``DiscordAdapter``s (two replicas) against the Discord fake, which delivers every
interaction to every gateway session of the bot as Discord does; two ``GatewayLeader``s on one
store (SQLite and PostgreSQL) on a virtual clock. Only the leader connects; each interaction is
answered once; a dead leader's lease lapses and the standby connects; a leader that cannot renew
stops before anyone may take over; a clean shutdown hands over at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.chat.discord_bot import DiscordAdapter
from bot.cluster import GATEWAY_LEASE
from bot.cluster.gateway import GATEWAY_EVERY, GATEWAY_TTL, GatewayLeader
from bot.domain.models import Reply
from bot.domain.timeutil import ManualClock
from tests.fakes.discord import DiscordFake, World

CALLBACK = "POST /interactions/{interaction_id}/{token}/callback"


class NamedCommands:
    """A CommandHandler that answers with the replica's name, so a test sees who answered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []

    async def handle(self, ctx: object, command: str, text: str) -> Reply:
        self.calls.append(f"{command} {text}")
        return Reply(text=f"{self.name}: /{command} {text}")

    async def complete(self, ctx: object, kind: str, prefix: str) -> list[str]:
        return []


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake(heartbeat_interval_ms=500) as server:
        yield server


@contextlib.asynccontextmanager
async def replica(fake: DiscordFake, name: str) -> AsyncIterator[tuple[DiscordAdapter, NamedCommands]]:
    commands = NamedCommands(name)
    adapter = DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        commands=commands,  # type: ignore[arg-type]
        standby=True,
    )
    await adapter.start()
    try:
        yield adapter, commands
    finally:
        await adapter.aclose()


async def answered_once(fake: DiscordFake, world: World, by: str) -> None:
    ix = await fake.slash(world.moderator, world.channel, "watch list")
    reply = await ix.reply()
    assert reply.content == f"{by}: /watch list"
    statuses = fake.callback_statuses(ix.id)
    assert len(statuses) == 1 and statuses[0] < 300, statuses


async def test_only_the_leader_connects_and_a_dead_leaders_lease_passes(
    store: Any, clock: ManualClock, fake: DiscordFake
) -> None:
    world = fake.world()
    async with replica(fake, "a") as (a, a_cmds), replica(fake, "b") as (b, b_cmds):
        assert fake.connections == [], "standbys log in and sync, but hold no session"
        assert a.status()["gateway"] == "standby"
        la = GatewayLeader(store, clock, holder="a", switch=a)
        lb = GatewayLeader(store, clock, holder="b", switch=b)
        assert await la.run_once() is True
        assert await lb.run_once() is False
        await fake.wait_connected()
        await a.wait_connected()
        assert len(fake.live_connections) == 1 and a.status()["gateway"] == "on"
        await answered_once(fake, world, "a")
        assert b_cmds.calls == []

        # renewals keep the lease where it is
        for _ in range(3):
            clock.advance(GATEWAY_EVERY)
            assert await la.run_once() and not await lb.run_once()
        (lease,) = await store.leases(GATEWAY_LEASE)
        assert lease.holder == "a" and lease.token == 1

        # a dies: no more renewals, and its socket goes (the e2e test SIGKILLs a real process;
        # here a's adapter stays open, as discord.py's endpoints are process-wide)
        await a.set_gateway(False)
        await fake.wait_for(lambda: not fake.live_connections, what="a's socket closed")
        clock.advance(GATEWAY_TTL - 0.5)
        assert not await lb.run_once(), "a's last renewal still holds"
        clock.advance(1)
        assert await lb.run_once()
        await fake.wait_connected(identifies=2)
        assert len(fake.live_connections) == 1
        await answered_once(fake, world, "b")
        (lease,) = await store.leases(GATEWAY_LEASE)
        assert lease.holder == "b" and lease.token == 2, "a new fencing token for the new leader"
        assert a_cmds.calls == ["watch list"] and b_cmds.calls == ["watch list"]


async def test_a_leader_that_cannot_renew_stops_before_anyone_takes_over(
    store: Any, clock: ManualClock, fake: DiscordFake
) -> None:
    async with replica(fake, "a") as (a, _), replica(fake, "b") as (b, _):
        la = GatewayLeader(store, clock, holder="a", switch=a)
        lb = GatewayLeader(store, clock, holder="b", switch=b)
        assert await la.run_once()
        await fake.wait_connected()
        # a's renewals stop getting through (say its database link hangs): by 0.8 ttl it must
        # no longer act as the holder, while the lease itself still blocks b
        clock.advance(0.8 * GATEWAY_TTL + 0.5)
        assert not la.keeper.held
        assert not await lb.run_once()
        clock.advance(0.2 * GATEWAY_TTL)
        assert await lb.run_once()
        assert not await la.run_once(), "b holds it now: a's renewal is refused"
        assert not a.gateway_on and b.gateway_on
        await fake.wait_connected(identifies=2)
        await fake.wait_for(lambda: len(fake.live_connections) == 1, what="a's session closed")
        assert fake.live_connections[0].session is not None
        assert fake.connections[0].ws.closed and fake.connections[0].close_code == 1000
        assert fake.connections[0].session is not None and not fake.connections[0].session.resumable


async def test_a_clean_shutdown_hands_over_at_once(store: Any, clock: ManualClock, fake: DiscordFake) -> None:
    world = fake.world()
    async with replica(fake, "a") as (a, _), replica(fake, "b") as (b, _):
        la = GatewayLeader(store, clock, holder="a", switch=a)
        lb = GatewayLeader(store, clock, holder="b", switch=b)
        assert await la.run_once() and not await lb.run_once()
        await fake.wait_connected()
        await la.aclose()  # session closed first, then the lease given back
        assert not a.gateway_on and await store.leases(GATEWAY_LEASE) == []
        assert await lb.run_once(), "no wait for the lease to lapse"
        await fake.wait_connected(identifies=2)
        await answered_once(fake, world, "b")
        assert len(fake.live_connections) == 1
