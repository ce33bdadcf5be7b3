"""A platform that rejects the bot's credentials pauses: nothing fails, nothing breaks, all resumes.

The dispatcher against the in-memory chat platform (a real ChatAdapter) on SQLite and
PostgreSQL; time is a ManualClock, so the re-check backoff is exact. The same story through the
real Slack and Discord SDKs is in ``test_platform_pause.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.delivery.dispatcher import RECHECK_BASE, RECHECK_CAP, Dispatcher
from bot.domain.errors import CredentialsRejected, DeliveryError
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore
from tests.support.factories import story
from tests.unit.delivery.support import DISCORD_A, SLACK_A, SLACK_B, make_world

PRICES = {"NVDA": (140.0, 133.0), "AMD": (150.0, 149.0)}


def revoked() -> CredentialsRejected:
    return CredentialsRejected(
        "the Slack bot token was revoked (the app was uninstalled?): reinstall the app and update "
        "SLACK_BOT_TOKEN",
        platform="slack",
        setting="SLACK_BOT_TOKEN",
        code="token_revoked",
    )


@pytest.mark.timeout(600)  # 400 re-check rounds on PostgreSQL: over a minute even on a quiet machine
async def test_a_revoked_token_pauses_the_platform_and_resumes_in_order(
    store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(store, clock, prices=PRICES)
    a = await w.subscribe("chips", SLACK_A)
    b = await w.subscribe("chips", SLACK_B)
    d = await w.subscribe("chips", DISCORD_A)
    slack = w.chat["slack"]
    await w.ingest(story("Nvidia semiconductor one", at=clock.now()))
    assert (await w.dispatcher.drain()).sent == 3

    slack.reject_credentials(revoked())
    for name in ("two", "three", "four"):
        await w.ingest(story(f"Nvidia semiconductor {name}", at=clock.now()))
    report = await w.dispatcher.drain()
    assert report.failed == 0 and report.deferred >= 1
    assert [x.title for x in w.chat["discord"].alerts()][
        -1
    ] == "Nvidia semiconductor four"  # Discord unaffected
    for sid in (a, b):
        sub = await store.get_subscription(sid)
        assert sub is not None and sub.state == "active"
        stats = (await store.channel_stats())[sid]
        assert (stats.queued, stats.failed) == (3, 0)
    pause = (await store.platform_pauses())["slack"]
    assert pause.setting == "SLACK_BOT_TOKEN" and "reinstall" in pause.reason
    assert w.dispatcher.platform_status()["slack"]["delivery"] == "paused"

    # re-checked with backoff while still revoked; nothing is sent, nothing given up, even after days
    attempts = slack.attempts
    checks = 0
    for _ in range(400):  # ~ 2.7 days at the cap
        clock.advance(RECHECK_CAP)
        await w.dispatcher.drain()
        checks += 1
    assert slack.auth_checks >= checks - 1
    assert slack.attempts == attempts  # the paused platform is not hammered with sends
    assert (await store.channel_stats())[a].failed == 0

    slack.reject_credentials(None)
    clock.advance(RECHECK_CAP)
    report = await w.dispatcher.drain()
    assert report.sent == 6 and report.failed == 0
    for channel in (SLACK_A.channel, SLACK_B.channel):
        assert [x.title for x in slack.alerts(channel)] == [
            f"Nvidia semiconductor {n}" for n in ("one", "two", "three", "four")
        ]
    assert "slack" not in await store.platform_pauses()
    assert (await store.get_subscription(d)).state == "active"  # type: ignore[union-attr]


async def test_the_first_recheck_comes_after_the_base_delay_then_backs_off(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("chips", SLACK_A)
    slack = w.chat["slack"]
    slack.reject_credentials(revoked())
    await w.ingest(story("Nvidia semiconductor paused", at=clock.now()))
    await w.dispatcher.drain()
    assert slack.auth_checks == 0
    clock.advance(RECHECK_BASE * 0.7)
    await w.dispatcher.drain()
    assert slack.auth_checks == 0  # not before 0.75 × base
    clock.advance(RECHECK_BASE * 0.31)
    await w.dispatcher.drain()
    assert slack.auth_checks == 1
    gaps = [w.dispatcher.recheck_delay(n) for n in range(12)]
    assert all(0.75 * min(RECHECK_CAP, RECHECK_BASE * 2**n) <= g for n, g in enumerate(gaps))
    assert max(gaps) <= RECHECK_CAP


async def test_a_restart_checks_at_once_and_resumes(sqlite_store: SqlStore, clock: ManualClock) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("chips", SLACK_A)
    slack = w.chat["slack"]
    slack.reject_credentials(revoked())
    await w.ingest(story("Nvidia semiconductor before restart", at=clock.now()))
    await w.dispatcher.drain()
    assert "slack" in await sqlite_store.platform_pauses()

    # the operator fixes the token and restarts: a new dispatcher checks at once, without backoff
    slack.reject_credentials(None)
    clock.advance(1)
    fresh = Dispatcher(sqlite_store, w.chat, w.cfg.delivery, clock, "restarted", sleep=w.sleep)
    report = await fresh.drain()
    assert report.sent == 1
    assert [x.title for x in slack.alerts()] == ["Nvidia semiconductor before restart"]
    assert await sqlite_store.platform_pauses() == {}


async def test_a_start_up_rejection_pauses_before_anything_is_tried(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("chips", SLACK_A)
    slack = w.chat["slack"]
    slack.reject_credentials(revoked())  # auth.test at start-up already failed
    await w.ingest(story("Nvidia semiconductor at start", at=clock.now()))
    report = await w.dispatcher.drain()
    assert report.deferred == 1 and slack.attempts == 0


async def test_channel_errors_still_break_only_their_subscription(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    a = await w.subscribe("chips", SLACK_A)
    b = await w.subscribe("chips", SLACK_B)
    w.chat["slack"].break_channel(
        SLACK_A.channel, DeliveryError("is_archived", retryable=False, code="is_archived")
    )
    await w.ingest(story("Nvidia semiconductor archive", at=clock.now()))
    report = await w.dispatcher.drain()
    assert (report.sent, report.failed) == (1, 1)
    assert (await sqlite_store.get_subscription(a)).state == "broken"  # type: ignore[union-attr]
    assert (await sqlite_store.get_subscription(b)).state == "active"  # type: ignore[union-attr]
    assert await sqlite_store.platform_pauses() == {}


async def test_a_long_pause_does_not_use_up_the_retry_window(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    """An alert that waited out a 2-day pause still gets its full retry window for a later outage."""
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("chips", SLACK_A)
    slack = w.chat["slack"]
    slack.reject_credentials(revoked())
    await w.ingest(story("Nvidia semiconductor patient", at=clock.now()))
    start = clock.now()
    while clock.now() - start < timedelta(days=2):
        clock.advance(RECHECK_CAP)
        await w.dispatcher.drain()
    slack.reject_credentials(None)
    slack.fail_next(DeliveryError("Slack answered HTTP 503", retryable=True, code="http_503"))
    clock.advance(RECHECK_CAP)
    report = await w.dispatcher.drain()
    assert (report.retried, report.failed) == (1, 0)
    clock.advance(w.cfg.delivery.retry_cap)
    assert (await w.dispatcher.drain()).sent == 1
