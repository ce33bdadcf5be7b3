"""Crash-safe hand-off: ``marketbot poll --once`` SIGKILLed at many moments between fetching a new
matching item and sending its alert, on SQLite and PostgreSQL; after a restart the alert arrives
exactly once.

Each kill is driven by a condition the test can see — a request reaching the feed host, Yahoo
or Slack, a row appearing in the database, a log line — and the moment is held open by a
misbehaving fake (a slow feed, a Yahoo that does not answer, a Slack that rate-limits or drops the
connection), so the kill lands where it is meant to on any machine. The restart runs at a later
MARKETBOT_NOW, so every retry is due and every lease of the dead process has expired.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.handoff_support import DEADLINE, LATER, TITLE, Child, Scene, scene
from tests.support.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def mpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One matplotlib cache for the module's bots (building it is slow, and not what is tested)."""
    return tmp_path_factory.mktemp("mpl")


@dataclass(frozen=True)
class KillPoint:
    """A moment between fetch and send: how the fakes hold it open, and how the test sees it."""

    name: str
    arrange: Callable[[Scene], None]
    reached: Callable[[Scene, Child], Awaitable[bool] | bool]
    min_move_pct: float | None = None
    quote_wait: float = 30


def _slow_feed(s: Scene) -> None:
    s.host.update("/wire.xml", delay=60)


def _silent_yahoo(s: Scene) -> None:
    s.yahoo.fail("quote", "hang")  # prices never come; the cookie and crumb dance works
    s.yahoo.fail("chart", "hang")


def _slack_rate_limits(s: Scene) -> None:
    s.slack.fail_next("chat.postMessage", status=429, retry_after=60)


def _slack_drops_the_send(s: Scene) -> None:
    s.slack.fail_next("chat.postMessage", delay=30, drop=True)


async def _handoff_stored(s: Scene, _: Child) -> bool:
    return await s.count("SELECT count(*) FROM handoffs WHERE kind = 'story'") > 0


def _prices_asked(s: Scene, _: Child) -> bool:
    return s.yahoo.count("/v7/finance/quote") + s.yahoo.count("/v8/finance/chart") > 0


async def _retry_queued(s: Scene, _: Child) -> bool:
    return await s.count("SELECT count(*) FROM outbox WHERE attempts > 0 AND status = 'pending'") > 0


KILL_POINTS = [
    KillPoint("while fetching the feed", _slow_feed, lambda s, _: s.host.hits.get("/wire.xml", 0) > 0),
    KillPoint("item stored, waiting for prices", _silent_yahoo, _handoff_stored),
    KillPoint("during the quote wait", _silent_yahoo, _prices_asked),
    KillPoint(
        "min_move_pct decision waiting for a late price",
        _silent_yahoo,
        lambda _, child: child.logged(r"missed the 2\.0s wait"),
        min_move_pct=1.0,
        quote_wait=2,
    ),
    KillPoint("queued, Slack rate-limited the send", _slack_rate_limits, _retry_queued),
    KillPoint(
        "sending, before Slack accepted",
        _slack_drops_the_send,
        lambda s, _: len(s.slack.calls_to("chat.postMessage")) > 0,
    ),
]


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
async def test_an_alert_survives_a_sigkill_and_arrives_exactly_once(
    point: KillPoint, database_url: str, tmp_path: Path, mpl: Path
) -> None:
    async with scene(tmp_path, database_url, mpl) as s:
        s.configure(
            [("Wire", s.feed("/wire.xml"))], quote_wait=point.quote_wait, min_move_pct=point.min_move_pct
        )
        point.arrange(s)

        doomed = await s.poll_once()
        await wait_until(lambda: point.reached(s, doomed), what=point.name, timeout=DEADLINE)
        await doomed.kill()
        assert s.alerts() == [], doomed.output  # killed before anything reached the channel

        s.host.update("/wire.xml", delay=0)
        s.yahoo.clear_failures()
        s.slack.clear_failures()
        restart = await s.poll_once(LATER)
        assert await restart.wait() == 0, restart.output

        (alert,) = s.alerts()
        assert TITLE in alert.text
        assert "AMZN" in alert.visible and "178.00" in alert.visible, restart.output  # priced after all
        await s.assert_nothing_pending()  # so nothing can arrive a second time


async def test_also_reported_by_survives_a_sigkill_and_arrives_exactly_once(
    database_url: str, tmp_path: Path, mpl: Path
) -> None:
    async with scene(tmp_path, database_url, mpl) as s:
        wire = s.feed("/wire.xml")
        s.configure([("Wire", wire)], quote_wait=5)
        first = await s.poll_once()
        assert await first.wait() == 0, first.output
        assert len(s.alerts()) == 1

        # another outlet carries the same story; Slack rate-limits the follow-up's first attempt
        s.configure([("Wire", wire), ("Other Outlet", s.feed("/other.xml"))], quote_wait=5, backfill=0)
        s.slack.fail_next("chat.postMessage", status=429, retry_after=60)
        doomed = await s.poll_once()
        await wait_until(
            lambda: s.count("SELECT count(*) FROM story_sources WHERE source = 'Other Outlet'"),
            what="the second outlet to be stored",
            timeout=DEADLINE,
        )
        await doomed.kill()
        assert s.replies() == []
        s.slack.clear_failures()  # the rate limit may not have been reached before the kill

        restart = await s.poll_once(LATER)
        assert await restart.wait() == 0, restart.output
        assert len(s.replies()) == 1, doomed.output + "\n---\n" + restart.output
        (reply,) = s.replies()
        assert "Also reported by Other Outlet" in reply.visible
        assert reply.thread_ts == s.alerts()[0].ts
        assert len(s.alerts()) == 1
        await s.assert_nothing_pending()
