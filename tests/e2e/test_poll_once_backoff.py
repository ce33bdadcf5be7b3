"""``marketbot poll --once`` run from cron behaves like the running bot's scheduler: a feed that
answered 429 with ``Retry-After: 3600`` is not requested again within the hour, a feed disabled
after a 410 stays alone, and the summary (text, or JSON with ``--json``) says which feeds were
skipped, why and until when. ``--force`` polls them anyway."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Bot
from tests.fakes.feed_host import FeedHost, entry, rss

pytestmark = pytest.mark.e2e


async def test_poll_once_honours_retry_after_and_disabled_feeds_and_force_overrides(bot_env: Bot) -> None:
    async with FeedHost() as host:
        now = datetime.now(UTC)
        feeds = [
            {
                "name": "Limited",
                "url": host.serve("/limited.xml", b"", fail_times=-1, fail_status=429, retry_after="3600"),
            },
            {"name": "Gone", "url": host.serve("/gone.xml", b"", fail_times=-1, fail_status=410)},
            {
                "name": "Fine",
                "url": host.serve(
                    "/fine.xml",
                    rss([entry("An ordinary story", "https://fine.test/1", published=now)]),
                    etag='"1"',
                ),
            },
        ]
        bot_env.write_config({"feeds": feeds, "web": {"enabled": False}})

        first = await bot_env.run("poll", "--once")
        assert first.code == 0, first.stderr
        assert (host.hits["/limited.xml"], host.hits["/gone.xml"], host.hits["/fine.xml"]) == (1, 1, 1)

        second = await bot_env.run("poll", "--once")
        assert second.code == 0, second.stderr
        assert (host.hits["/limited.xml"], host.hits["/gone.xml"], host.hits["/fine.xml"]) == (1, 1, 2)
        assert "polled 1 feeds" in second.stderr
        assert "skipped 2 feeds (--force polls the disabled and backing-off ones anyway):" in second.stderr
        limited = next(line for line in second.stderr.splitlines() if line.startswith("  Limited: "))
        assert "backing off for 59m" in limited or "backing off for 1h" in limited, limited
        assert "HTTP 429 Too Many Requests (Retry-After: 1h)" in limited and "next poll at 20" in limited
        gone = next(line for line in second.stderr.splitlines() if line.startswith("  Gone: "))
        assert gone.startswith("  Gone: disabled: HTTP 410 Gone") and "marketbot feeds --enable" in gone

        third = await bot_env.run("poll", "--once", "--json")
        assert third.code == 0, third.stderr
        assert third.json_lines() == []  # stdout carries deliveries only
        summary = json.loads(third.stderr.strip().splitlines()[-1])["summary"]
        assert (summary["polled"], summary["skipped"], summary["delivery"]["sent"]) == (1, 2, 0)
        skipped = {f["name"]: f for f in summary["feeds"] if f["status"] == "skipped"}
        assert skipped["Limited"]["skipped"].startswith("backing off for ")
        until = datetime.fromisoformat(skipped["Limited"]["next_poll"]) - datetime.now(UTC)
        assert timedelta(minutes=55) < until <= timedelta(hours=1)
        assert skipped["Gone"]["skipped"].startswith("disabled: HTTP 410 Gone")
        assert host.hits["/limited.xml"] == 1

        forced = await bot_env.run("poll", "--once", "--force")
        assert forced.code == 0, forced.stderr
        assert (host.hits["/limited.xml"], host.hits["/gone.xml"]) == (2, 2)
        assert "skipped" not in forced.stderr.splitlines()[-1]


async def test_force_needs_once(bot_env: Bot) -> None:
    bot_env.write_config({"feeds": [], "web": {"enabled": False}})
    result = await bot_env.run("poll", "--force")
    assert result.code == 2 and "--force only applies to --once" in result.stderr
