"""The dispatcher against the in-memory chat platform scripted to fail the way real ones do.

429s with Retry-After, 5xx outages, permanent channel errors, rate limits, shutdown, two
dispatchers on one database. Time is a ManualClock; rate-limit waits advance it.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

from bot.chat.memory import MemoryChat
from bot.delivery.dispatcher import ChannelLimiter, Dispatcher
from bot.domain.errors import DeliveryError
from bot.domain.models import Alert, ChannelRef
from bot.domain.records import OutboxEntry
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore, open_store
from tests.support.wait import wait_until
from tests.unit.delivery.support import DISCORD_A, SLACK_A, SLACK_B, World, config, make_world, story

PRICES = {"NVDA": (140.0, 133.0), "AMD": (150.0, 149.0)}


def ratelimited(after: float) -> DeliveryError:
    return DeliveryError(
        "Slack is rate limiting chat.postMessage", retryable=True, retry_after=after, code="ratelimited"
    )


def outage() -> DeliveryError:
    return DeliveryError("Slack answered 503 Service Unavailable", retryable=True, code="http_503")


async def chips_world(store: SqlStore, clock: ManualClock, **kw: object) -> tuple[World, int]:
    w = await make_world(store, clock, prices=PRICES, **kw)  # type: ignore[arg-type]
    sub = await w.subscribe("chips", SLACK_A)
    return w, sub


def titles(chat: MemoryChat, channel: str | None = None) -> list[str]:
    return [a.title for a in chat.alerts(channel)]


async def test_a_429_waits_for_retry_after_and_keeps_the_channel_in_order(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, _ = await chips_world(sqlite_store, clock)
    for name in ("first", "second", "third"):
        await w.ingest(story(f"Nvidia {name} semiconductor story", at=clock.now()))
    slack = w.chat["slack"]
    slack.fail_next(ratelimited(30))
    report = await w.dispatcher.drain()
    assert (report.sent, report.retried) == (0, 1)  # the later alerts wait behind the first
    clock.advance(29)
    assert (await w.dispatcher.drain()).sent == 0  # Retry-After is honoured
    clock.advance(2)
    assert (await w.dispatcher.drain()).sent == 3
    assert titles(slack) == [f"Nvidia {n} semiconductor story" for n in ("first", "second", "third")]
    assert slack.attempts == 4  # one refused, three sent: no duplicates


async def test_5xx_outages_retry_with_backoff_until_the_platform_is_back(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, _ = await chips_world(sqlite_store, clock)
    await w.ingest(story("Nvidia semiconductor outage test", at=clock.now()))
    await w.ingest(story("AMD semiconductor second", at=clock.now()))
    slack = w.chat["slack"]
    slack.fail_next(outage(), outage(), outage(), outage())
    cfg = w.cfg.delivery
    for attempt in range(1, 5):
        assert (await w.dispatcher.drain()).retried == 1
        # full jitter: the retry is due within the exponential ceiling, never later
        clock.advance(min(cfg.retry_cap, cfg.retry_base * 2 ** (attempt - 1)))
    assert (await w.dispatcher.drain()).sent == 2
    assert titles(slack) == ["Nvidia semiconductor outage test", "AMD semiconductor second"]
    assert slack.attempts == 6


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    d = Dispatcher(
        None,
        {},
        config().delivery,
        ManualClock(__import__("datetime").datetime.now()),
        "w",
        rng=random.Random(1),
    )  # type: ignore[arg-type]
    cfg = config().delivery
    for attempt in range(1, 16):
        ceiling = min(cfg.retry_cap, cfg.retry_base * 2 ** (attempt - 1))
        samples = [d.backoff(attempt) for _ in range(400)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.9 * ceiling and min(samples) < 0.1 * ceiling


async def test_transient_failures_give_up_after_max_retry_without_breaking_the_subscription(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, sub = await chips_world(sqlite_store, clock)
    await w.ingest(story("Nvidia semiconductor never delivered", at=clock.now()))
    w.chat["slack"].break_channel(SLACK_A.channel, outage())
    start = clock.now()
    failed = 0
    while clock.now() - start < timedelta(hours=25) and not failed:
        failed = (await w.dispatcher.drain()).failed
        clock.advance(w.cfg.delivery.retry_cap)
    assert failed == 1
    assert timedelta(hours=23) < clock.now() - start <= timedelta(hours=25)
    subscription = await w.store.get_subscription(sub)
    assert subscription is not None and subscription.state == "active"
    assert (await w.store.channel_stats())[sub].failed == 1


async def test_a_permanent_error_marks_the_subscription_broken_and_stops_sending(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, sub = await chips_world(sqlite_store, clock)
    other = await w.subscribe("chips", SLACK_B)
    await w.ingest(story("Nvidia semiconductor one", at=clock.now()))
    await w.ingest(story("Nvidia semiconductor two", at=clock.now()))
    slack = w.chat["slack"]
    slack.break_channel(
        SLACK_A.channel,
        DeliveryError(
            "channel_not_found: the channel was deleted", retryable=False, code="channel_not_found"
        ),
    )
    report = await w.dispatcher.drain()
    assert report.failed == 2 and report.sent == 2  # SLACK_B got both
    assert titles(slack, SLACK_B.channel) == ["Nvidia semiconductor one", "Nvidia semiconductor two"]
    assert slack.attempts == 3  # the broken channel was tried once only
    broken = await w.store.get_subscription(sub)
    assert broken is not None and broken.state == "broken"
    assert broken.broken_reason == "channel_not_found: the channel was deleted"
    assert (await w.store.get_subscription(other)).state == "active"  # type: ignore[union-attr]
    assert (await w.store.channel_stats())[sub].failed == 2
    # nothing repairs it silently: new stories are not queued for it until someone re-subscribes
    assert await w.ingest(story("Nvidia semiconductor three", at=clock.now())) == 1  # SLACK_B only


async def test_bursts_queue_at_the_platform_rate_instead_of_failing(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES, rates={"slack": (1, 1.0), "discord": (5, 5.0)})
    await w.subscribe("chips", SLACK_A)
    await w.subscribe("chips", DISCORD_A)
    for i in range(5):
        await w.ingest(story(f"Nvidia semiconductor burst {i}", at=clock.now()))
    start = clock.now()
    assert (await w.dispatcher.drain()).sent == 10
    # Slack: 1 per second per channel -> 5 messages need 4 s; Discord's 5 per 5 s take none.
    # Both channels wait concurrently on the same manual clock, so the clock moved >= 4 s.
    assert w.sleep.total >= 4.0 - 1e-6
    assert clock.now() - start >= timedelta(seconds=4)
    assert titles(w.chat["slack"]) == [f"Nvidia semiconductor burst {i}" for i in range(5)]
    assert titles(w.chat["discord"]) == [f"Nvidia semiconductor burst {i}" for i in range(5)]


async def test_discord_allows_five_then_waits_for_the_window(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES, rates={"slack": (1, 1.0), "discord": (5, 5.0)})
    await w.subscribe("chips", DISCORD_A)
    for i in range(10):
        await w.ingest(story(f"Nvidia semiconductor discord {i}", at=clock.now()))
    assert (await w.dispatcher.drain()).sent == 10
    # five at once, then the window: the sixth waits until the first is 5 s old
    assert 5.0 - 1e-6 <= w.sleep.total <= 5.0 + 1e-6


def test_channel_limiter_never_allows_more_than_the_budget_in_any_window() -> None:
    lim = ChannelLimiter(5, 5.0)
    for t in (0.0, 0.1, 0.2, 0.3, 0.4):
        assert lim.delay(t) == 0.0
        lim.record(t)
    assert lim.delay(1.0) == 4.0  # a 6th message waits until the first leaves the window
    assert lim.delay(5.0) == 0.0
    lim.record(5.0)
    assert abs(lim.delay(5.0) - 0.1) < 1e-9
    slack = ChannelLimiter(1, 1.0)
    slack.record(10.0)
    assert slack.delay(10.25) == 0.75 and slack.delay(11.0) == 0.0
    # sends another replica made count too: the window keeps the latest ``limit`` of all
    discord = ChannelLimiter(5, 5.0)
    discord.record(1.0)
    discord.merge([0.5, 2.0, 3.0, 4.0, 4.5])
    assert list(discord.times) == [1.0, 2.0, 3.0, 4.0, 4.5] and discord.delay(4.5) == 1.5
    discord.merge([3.0, 4.0, 4.5])  # read again by the next claim: counted once
    assert list(discord.times) == [1.0, 2.0, 3.0, 4.0, 4.5]


async def test_an_edit_whose_original_was_never_sent_is_dropped(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, _ = await chips_world(sqlite_store, clock)
    alert = Alert(key="story:gone:sub:1", kind="story", channel=SLACK_A, watchlist="chips", title="x")
    await w.store.enqueue(
        [OutboxEntry(key="edit:story:gone:sub:1", alert=alert, subscription_id=None, due_at=clock.now())]
    )
    report = await w.dispatcher.drain()
    assert (report.dropped, report.edited) == (1, 0)
    assert w.chat["slack"].attempts == 0


async def test_alerts_for_a_platform_without_a_connection_wait(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, _ = await chips_world(sqlite_store, clock)
    sub = await w.subscribe("chips", ChannelRef("discord", "998877665544332211"))
    dispatcher = Dispatcher(w.store, {"slack": w.chat["slack"]}, w.cfg.delivery, clock, "no-discord")
    await w.ingest(story("Nvidia semiconductor for both", at=clock.now()))
    report = await dispatcher.drain()
    assert (report.sent, report.retried) == (1, 1)
    assert (await w.store.channel_stats())[sub].queued == 1  # waiting, not lost
    assert (await w.store.get_subscription(sub)).state == "active"  # type: ignore[union-attr]


async def test_two_dispatchers_on_one_database_send_each_alert_once_in_order(
    tmp_path: Path, clock: ManualClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    channels = [ChannelRef("slack", f"C0{n:08d}", "T1") for n in range(8)]
    async with open_store(url) as a, open_store(url) as b:
        w = await make_world(a, clock, prices=PRICES)
        for ch in channels:
            await w.subscribe("chips", ch)
        for i in range(12):
            await w.ingest(story(f"Nvidia semiconductor #{i:02d}", at=clock.now()))
        chat = w.chat["slack"]
        d1 = Dispatcher(a, {"slack": chat}, w.cfg.delivery, clock, "one")
        d2 = Dispatcher(b, {"slack": chat}, w.cfg.delivery, clock, "two")
        r1, r2 = await asyncio.gather(d1.drain(), d2.drain())
        r3 = await d1.drain()  # anything left behind a peer's in-flight head
    assert r1.sent + r2.sent + r3.sent == 8 * 12
    for ch in channels:
        assert titles(chat, ch.channel) == [f"Nvidia semiconductor #{i:02d}" for i in range(12)]
    assert chat.attempts == 8 * 12


async def test_run_until_closed_and_shutdown_releases_unsent_claims(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, _ = await chips_world(sqlite_store, clock)
    runner = asyncio.create_task(w.dispatcher.run())
    await w.ingest(story("Nvidia semiconductor while running", at=clock.now()))
    w.dispatcher.wake()
    await wait_until(lambda: w.chat["slack"].messages, what="the running dispatcher sending the alert")
    assert titles(w.chat["slack"]) == ["Nvidia semiconductor while running"]
    await w.dispatcher.aclose()
    assert runner.done() and runner.exception() is None

    # a dispatcher stopped while alerts wait for rate-limit budget gives them back at once
    never = asyncio.Event()
    waiting = asyncio.Event()

    async def blocked(_seconds: float) -> None:
        waiting.set()
        await never.wait()

    slow = MemoryChat("slack", channel_rate=(1, 20.0))
    clock.advance(20)  # past the window of the alert the first dispatcher sent (limits hold across workers)
    stuck = Dispatcher(w.store, {"slack": slow}, w.cfg.delivery, clock, "stuck", sleep=blocked)
    for i in range(3):
        await w.ingest(story(f"Nvidia semiconductor queued {i}", at=clock.now()))
    task = asyncio.create_task(stuck.run())
    await wait_until(
        lambda: slow.messages and waiting.is_set(),
        what="the first alert sent and the second waiting for the channel's budget",
    )
    await stuck.aclose()
    assert task.done()
    assert titles(slow) == ["Nvidia semiconductor queued 0"]
    # released, not left to a lease: another dispatcher sends the rest right away
    fresh = Dispatcher(w.store, w.chat, w.cfg.delivery, clock, "fresh")
    assert (await fresh.drain()).sent == 2
    assert titles(w.chat["slack"])[-2:] == ["Nvidia semiconductor queued 1", "Nvidia semiconductor queued 2"]


async def test_a_follow_up_of_an_alert_that_failed_is_not_sent(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w, sub = await chips_world(sqlite_store, clock)
    followup = Alert(
        key="followup:s1:sub:1:0",
        kind="followup",
        channel=SLACK_A,
        watchlist="chips",
        title="t",
        story_id="never-sent",
        note="Also reported by X",
    )
    await w.store.enqueue(
        [OutboxEntry(key=followup.key, alert=followup, subscription_id=sub, due_at=clock.now())]
    )
    assert (await w.dispatcher.drain()).dropped == 1
    assert w.chat["slack"].messages == []
