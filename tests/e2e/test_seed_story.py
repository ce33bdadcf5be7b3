"""The story marketbot was conceived around, end to end through the real command.

Amazon and Microsoft fall pre-market on a report that the US will restrict cloud services
for Chinese AI developers. A channel watching AMZN, MSFT, "export control" and "cloud" gets
that story within one poll, with both tickers' pre-market moves.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import Bot
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.yahoo import YahooFake

pytestmark = pytest.mark.e2e

# Wednesday 2026-11-25, 08:10 in New York: pre-market
NOW = datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
TITLE = "Amazon.com (AMZN) and Microsoft Corporation (MSFT) Shares Fall as US Plans to Restrict Cloud Services for Chinese Firms"
BODY = (Path(__file__).parents[1] / "data" / "seed_story_body.txt").read_text(encoding="utf-8")


class Frozen:
    def now(self) -> datetime:
        return NOW


def config(feed_url: str) -> dict[str, object]:
    return {
        "timezone": "America/New_York",
        "feeds": [{"name": "Market News Wire", "url": feed_url, "interval": 60}],
        "watchlists": [
            {"name": "cloud-china", "tickers": ["AMZN", "MSFT"], "keywords": ["export control", "cloud"]},
            {"name": "autos", "tickers": ["TSLA"], "keywords": ["recall"]},
        ],
        "subscriptions": [{"watchlist": "cloud-china", "channel": "console"}],
        "web": {"enabled": False},
        # generous price deadlines: on a busy machine the moves must still make it into the alert
        "market": {"quote_timeout": 30},
        "delivery": {"quote_wait": 30},
    }


async def test_seed_story_arrives_within_one_poll_with_premarket_moves(bot_env: Bot) -> None:
    async with FeedHost() as host, YahooFake(clock=Frozen()) as yahoo:
        prev = yahoo.close_on("AMZN", date(2026, 11, 24))
        yahoo.set_day("AMZN", date(2026, 11, 25), pre=round(prev * 0.9918, 2))
        prev_msft = yahoo.close_on("MSFT", date(2026, 11, 24))
        yahoo.set_day("MSFT", date(2026, 11, 25), pre=round(prev_msft * 0.9875, 2))
        older = entry(
            "Fed minutes show officials split on December cut",
            "https://news.example/fed-minutes",
            published=datetime(2026, 11, 24, 19, 0, tzinfo=UTC),
        )
        url = host.serve("/markets.xml", rss([older]), etag='"v1"')
        bot_env.write_config(config(url))
        bot_env.env["MARKETBOT_YAHOO_URL"] = yahoo.url
        bot_env.env["MARKETBOT_NOW"] = NOW.isoformat()

        first = await bot_env.run("poll", "--once", "--json")
        assert first.code == 0, first.stderr
        assert first.json_lines() == []  # what a feed holds on its first poll is stored, not alerted

        seed = entry(
            TITLE,
            "https://news.example/markets/amazon-microsoft-cloud-china?utm_source=rss&utm_medium=feed",
            published=datetime(2026, 11, 25, 13, 2, tzinfo=UTC),
            description=f"<p>{BODY}</p>",
        )
        host.update("/markets.xml", body=rss([seed, older]), etag='"v2"')
        second = await bot_env.run("poll", "--once", "--json")
        assert second.code == 0, second.stderr
        alerts = second.json_lines()
        assert len(alerts) == 1, second.stdout
        (alert,) = alerts
        assert alert["channel"] == "console"
        assert alert["watchlist"] == "cloud-china"
        assert alert["title"] == TITLE
        assert alert["link"] == "https://news.example/markets/amazon-microsoft-cloud-china"
        assert alert["source"] == "Market News Wire"
        assert "cloud" in alert["terms"]
        assert alert["summary"] and len(str(alert["summary"])) <= 280
        tickers = {t["symbol"]: t for t in alert["tickers"]}  # type: ignore[union-attr,index]
        assert list(tickers)[:2] == ["AMZN", "MSFT"]
        for symbol, pct in (("AMZN", -0.82), ("MSFT", -1.25)):
            line = tickers[symbol]
            assert line["session"] == "pre-market"
            assert line["price"] is not None
            assert line["change_pct"] == pytest.approx(pct, abs=0.02)

        # the same story again in the next poll (timestamps rewritten) is not alerted twice
        rewritten = entry(
            TITLE, seed.link, published=datetime(2026, 11, 25, 13, 5, tzinfo=UTC), description=BODY
        )
        host.update("/markets.xml", body=rss([rewritten, older]), etag='"v3"')
        third = await bot_env.run("poll", "--once", "--json")
        assert third.code == 0, third.stderr
        assert third.json_lines() == []


async def test_the_same_story_from_another_outlet_is_one_alert_and_one_also_reported_by(bot_env: Bot) -> None:
    async with FeedHost() as host, YahooFake(clock=Frozen()) as yahoo:
        wire = host.serve("/wire.xml", rss([]), etag='"w1"')
        daily = host.serve("/daily.xml", rss([]), etag='"d1"')
        cfg = config(wire)
        cfg["feeds"] = [
            {"name": "Market News Wire", "url": wire, "interval": 60},
            {"name": "Daily Ledger", "url": daily, "interval": 60},
        ]
        bot_env.write_config(cfg)
        bot_env.env["MARKETBOT_YAHOO_URL"] = yahoo.url
        bot_env.env["MARKETBOT_NOW"] = NOW.isoformat()
        assert (await bot_env.run("poll", "--once", "--json")).json_lines() == []

        published = datetime(2026, 11, 25, 13, 2, tzinfo=UTC)
        host.update(
            "/wire.xml", body=rss([entry(TITLE, "https://wire.example/a", published=published)]), etag='"w2"'
        )
        first = await bot_env.run("poll", "--once", "--json")
        assert [a["kind"] for a in first.json_lines()] == ["story"], first.stderr

        # another outlet, a slightly different headline, ten minutes later: the same event
        later = datetime(2026, 11, 25, 13, 12, tzinfo=UTC)
        bot_env.env["MARKETBOT_NOW"] = later.isoformat()
        retitled = TITLE.replace("Shares Fall", "shares fall")
        host.update(
            "/daily.xml",
            body=rss([entry(retitled, "https://ledger.example/b", published=later)]),
            etag='"d2"',
        )
        second = await bot_env.run("poll", "--once", "--json")
        alerts = second.json_lines()
        assert [a["kind"] for a in alerts] == ["followup"], second.stdout + second.stderr
        assert alerts[0]["watchlist"] == "cloud-china"
        assert alerts[0]["source"] == "Daily Ledger" and alerts[0]["link"] == "https://ledger.example/b"


async def test_yahoo_ticker_news_is_a_source_when_enabled(bot_env: Bot) -> None:
    from tests.fakes.yahoo import Article

    async with FeedHost() as host, YahooFake(clock=Frozen()) as yahoo:
        cfg = config(host.serve("/empty.xml", rss([])))
        cfg["yahoo_news"] = {"enabled": True, "interval": 60}
        bot_env.write_config(cfg)
        bot_env.env["MARKETBOT_YAHOO_URL"] = yahoo.url
        bot_env.env["MARKETBOT_NOW"] = NOW.isoformat()
        first = await bot_env.run("poll", "--once", "--json")
        assert first.code == 0, first.stderr
        assert first.json_lines() == []  # the source's first poll is stored, not alerted

        yahoo.news["MSFT"] = [
            *yahoo.articles_for("MSFT"),
            Article(
                title="Microsoft weighs cloud limits for Chinese AI customers",
                summary="<p>The company is reviewing access to its <b>Azure</b> cloud.</p>",
                published=datetime(2026, 11, 25, 13, 5, tzinfo=UTC),
                provider="Reuters",
                url="https://www.reuters.com/technology/microsoft-cloud-china/?utm_source=yahoo",
                tickers=("MSFT",),
            ),
        ]
        second = await bot_env.run("poll", "--once", "--json")
        assert second.code == 0, second.stderr
        (alert,) = second.json_lines()
        assert alert["title"] == "Microsoft weighs cloud limits for Chinese AI customers"
        assert alert["link"] == "https://www.reuters.com/technology/microsoft-cloud-china/"
        assert alert["summary"] == "The company is reviewing access to its Azure cloud."
        assert [t["symbol"] for t in alert["tickers"]][:1] == ["MSFT"]  # type: ignore[index]
