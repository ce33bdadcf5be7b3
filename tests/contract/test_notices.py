"""Notices in the operators' channel: one message per change, at most once per thing per day, no flood.

Real store (SQLite and PostgreSQL), real dispatcher and the in-memory chat platform; time is a
ManualClock. What is asserted is what lands in the notify channel.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.delivery.dispatcher import RECHECK_CAP, Dispatcher
from bot.delivery.notices import MAX_LISTED, MAX_PER_DAY, Notices
from bot.domain.errors import CredentialsRejected, DeliveryError
from bot.domain.models import Alert, ChannelRef
from bot.domain.records import FeedSpec
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore
from tests.unit.delivery.support import SLACK_A, VirtualSleep, World, config, make_world, story

PRICES = {"NVDA": (140.0, 133.0)}
OPS = ChannelRef("slack", "C0OPSOPS01")
OPS_DISCORD = ChannelRef("discord", "998877665544332211")


async def world(
    store: SqlStore, clock: ManualClock, notify: str = "slack:C0OPSOPS01"
) -> tuple[World, Notices]:
    cfg = config(f"\nnotify: {notify}\n")
    w = await make_world(store, clock, prices=PRICES, cfg=cfg)
    notices = Notices(store, cfg.notify, clock, tz=cfg.tz)
    w.dispatcher = Dispatcher(
        store, w.chat, cfg.delivery, clock, "w", sleep=VirtualSleep(clock), on_change=notices.wake
    )
    return w, notices


def notices_in(w: World, channel: ChannelRef) -> list[Alert]:
    return [a for a in w.chat[channel.platform].alerts(channel.channel) if a.kind == "notice"]


async def announced(w: World, notices: Notices) -> int:
    """Let a sweep the dispatcher woke finish, sweep, deliver; how many notices were queued."""
    await notices.settled()
    before = notices.stats["problem"] + notices.stats["recovered"]
    queued = await notices.sweep()
    await w.dispatcher.drain()
    return queued or int(notices.stats["problem"] + notices.stats["recovered"] > before)


async def test_a_broken_subscription_and_its_repair_are_announced_once_each(
    store: SqlStore, clock: ManualClock
) -> None:
    w, notices = await world(store, clock)
    sub = await w.subscribe("chips", SLACK_A)
    w.chat["slack"].break_channel(
        SLACK_A.channel,
        DeliveryError(
            "Slack channel C0AAAAAAAA is archived: unarchive it", retryable=False, code="is_archived"
        ),
    )
    await w.ingest(story("Nvidia semiconductor archived", at=clock.now()))
    await w.dispatcher.drain()  # breaks the subscription, which wakes a sweep
    await notices.settled()
    await w.dispatcher.drain()
    [notice] = notices_in(w, OPS)
    assert notice.title == "marketbot: 1 problem needs attention"
    assert f"chips → slack:{SLACK_A.channel} is broken: Slack channel C0AAAAAAAA is archived" in notice.note
    assert f"marketbot subscriptions --repair {sub}" in notice.note
    for _ in range(3):  # nothing changed: nothing more
        clock.advance(60)
        assert await notices.sweep() == 0

    await store.mark_subscription_broken(sub, None)  # `marketbot subscriptions --repair`
    assert await notices.sweep() == 1
    await w.dispatcher.drain()
    _first, recovered = notices_in(w, OPS)
    assert recovered.title == "marketbot: 1 problem resolved"
    assert "is active again" in recovered.note
    assert await notices.sweep() == 0


async def test_a_flood_is_one_message(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w, notices = await world(sqlite_store, clock)
    specs = [FeedSpec(id=f"f{i:03d}", name=f"Feed {i}", url=f"https://f{i}.example/rss") for i in range(35)]
    await sqlite_store.sync_feeds(specs)
    for state in await sqlite_store.list_feeds():
        await sqlite_store.save_feed_state(
            dataclasses.replace(state, disabled_reason="10 consecutive failures, last: DNS lookup failed")
        )
    assert await notices.sweep() == 1
    await w.dispatcher.drain()
    [notice] = notices_in(w, OPS)
    assert notice.title == "marketbot: 35 problems need attention"
    assert notice.note.count("is disabled: 10 consecutive failures") == MAX_LISTED
    assert "…and 25 more" in notice.note

    for state in await sqlite_store.list_feeds():  # `marketbot feeds --enable`, all of them
        await sqlite_store.save_feed_state(dataclasses.replace(state, disabled_reason=None))
    assert await notices.sweep() == 1
    await w.dispatcher.drain()
    assert notices_in(w, OPS)[-1].title == "marketbot: 35 problems resolved"


async def test_a_flapping_thing_is_announced_at_most_once_a_day(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, notices = await world(sqlite_store, clock)
    sub = await w.subscribe("chips", SLACK_A)
    for _ in range(4):
        await sqlite_store.mark_subscription_broken(sub, "channel_not_found")
        await notices.sweep()
        clock.advance(600)
        await sqlite_store.mark_subscription_broken(sub, None)
        await notices.sweep()
        clock.advance(600)
    await w.dispatcher.drain()
    assert [n.title.split(": ", 1)[1] for n in notices_in(w, OPS)] == [
        "1 problem needs attention",
        "1 problem resolved",
    ]
    clock.advance(timedelta(days=1))
    await sqlite_store.mark_subscription_broken(sub, "channel_not_found")
    assert await notices.sweep() == 1  # a new day


async def test_at_most_max_per_day_messages(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w, notices = await world(sqlite_store, clock)
    subs = [await w.subscribe("chips", ChannelRef("slack", f"C0SUB{i:05d}")) for i in range(MAX_PER_DAY + 5)]
    queued = 0
    for sid in subs:  # one new problem per sweep
        await sqlite_store.mark_subscription_broken(sid, "is_archived")
        queued += await notices.sweep()
        clock.advance(1)
    assert queued == MAX_PER_DAY
    assert notices.stats["capped"] == 5


async def test_a_slack_pause_is_announced_on_discord_when_listed(store: SqlStore, clock: ManualClock) -> None:
    w, notices = await world(store, clock, notify=f"[{OPS}, {OPS_DISCORD}]")
    await w.subscribe("chips", SLACK_A)
    w.chat["slack"].reject_credentials(
        CredentialsRejected("Slack rejected SLACK_BOT_TOKEN", platform="slack", setting="SLACK_BOT_TOKEN")
    )
    await w.ingest(story("Nvidia semiconductor during a pause", at=clock.now()))
    await w.dispatcher.drain()  # pauses Slack, which wakes a sweep
    await notices.settled()
    assert await notices.sweep() == 0  # the wake-up already queued it
    await w.dispatcher.drain()
    [paused] = notices_in(w, OPS_DISCORD)
    assert "Slack delivery is paused: Slack rejected SLACK_BOT_TOKEN" in paused.note
    assert notices_in(w, OPS) == []

    w.chat["slack"].reject_credentials(None)
    clock.advance(RECHECK_CAP)
    await w.dispatcher.drain()  # resumes; the recovery notice goes to Slack, its first choice
    await announced(w, notices)
    [resumed] = notices_in(w, OPS)
    assert "Slack delivery resumed" in resumed.note


async def test_with_only_a_slack_channel_the_pause_notice_waits_for_the_recovery(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, notices = await world(sqlite_store, clock)
    await w.subscribe("chips", SLACK_A)
    slack = w.chat["slack"]
    slack.reject_credentials(
        CredentialsRejected("Slack rejected SLACK_BOT_TOKEN", platform="slack", setting="SLACK_BOT_TOKEN")
    )
    await w.ingest(story("Nvidia semiconductor queued", at=clock.now()))
    await w.dispatcher.drain()
    await announced(w, notices)
    assert notices_in(w, OPS) == []  # queued, not lost, not failed
    slack.reject_credentials(None)
    clock.advance(RECHECK_CAP)
    await w.dispatcher.drain()
    await announced(w, notices)
    assert ["is paused" in n.note for n in notices_in(w, OPS)] == [True, False]
    assert [a.title for a in slack.alerts(SLACK_A.channel)] == ["Nvidia semiconductor queued"]


async def test_without_notify_nothing_is_swept(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    notices = Notices(sqlite_store, w.cfg.notify, clock, tz=w.cfg.tz)
    sub = await w.subscribe("chips", SLACK_A)
    await sqlite_store.mark_subscription_broken(sub, "gone")
    assert not notices.enabled and await notices.sweep() == 0
