"""End to end: the real ``marketbot run`` process against a Slack, a feed host and Yahoo on loopback.

What a Slack user sees: the bot connects over Socket Mode, ``/watch subscribe`` in a channel, a
new feed item arrives as a Block Kit alert in that channel (escaped, within Slack's limits) even
though Slack rate-limited the first attempt, ``/quote`` is acknowledged before Slack's 3 s
deadline, and the bot comes back after its websocket is dropped. HTTP mode: signed slash
commands are answered, badly signed ones refused.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import running
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.slack import FakeSlack, Message, validate_blocks
from tests.fakes.yahoo import YahooFake

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0MARKETS1"
VISIBLE = "Amazon wins <@U0BOSS0001> cloud deal & export control <#C0GENERAL1> @here"
HOSTILE = "<!channel> " + VISIBLE

CONFIG = """
timezone: America/New_York
feeds:
  - name: "Wire"
    url: {feed}
    interval: 30
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
web:
  host: 127.0.0.1
  port: 0
"""


def bot_env(tmp_path: Path, slack: FakeSlack, yahoo: YahooFake, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}",
            "MARKETBOT_YAHOO_URL": yahoo.url,
            "MARKETBOT_WEB_PORT": "0",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_API_URL": slack.api_url,
        }
    )
    env.update(extra)
    return env


def alerts(slack: FakeSlack) -> list[Message]:
    return [m for m in slack.messages(CHANNEL) if m.via == "api" and m.thread_ts is None]


async def test_socket_mode_from_subscribe_to_alert(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = entry(
        "Quarterly earnings calendar", "https://wire.test/old", guid="old", published=now - timedelta(hours=1)
    )
    async with FakeSlack() as slack, FeedHost() as feeds, YahooFake() as yahoo:
        slack.add_channel(CHANNEL, "markets")
        slack.add_user("U0TRADER01", "tess")
        feed = feeds.serve("/wire.xml", rss([old]))
        (tmp_path / "bot.yaml").write_text(CONFIG.format(feed=feed), encoding="utf-8")
        env = bot_env(tmp_path, slack, yahoo, SLACK_APP_TOKEN=slack.app_token)

        async with running(env, tmp_path) as bot:
            # connect: apps.connections.open on SLACK_API_URL, then the websocket
            first = await slack.wait_connected(timeout=90)
            assert slack.calls_to("apps.connections.open")[0].token == slack.app_token
            await slack.wait_for(lambda: feeds.requests_to("/wire.xml"), timeout=60)

            # a user subscribes the channel
            sub = await slack.slash_command(
                "/watch", "subscribe cloud-china", channel=CHANNEL, user="U0TRADER01"
            )
            assert sub.user_error is None, sub.user_error
            [answer] = await sub.wait_responses(1)
            assert "cloud-china" in answer.visible

            # /quote is acknowledged before Slack's deadline, answered afterwards
            quote = await slack.slash_command("/quote", "AMZN", channel=CHANNEL, user="U0TRADER01")
            assert quote.user_error is None and quote.ack_seconds is not None
            [quoted] = await quote.wait_responses(1, timeout=60)
            assert "AMZN" in quoted.visible

            # Slack rate-limits the first attempt; then a hostile headline arrives on the feed
            slack.fail_next("chat.postMessage", status=429, retry_after=2)
            new = entry(HOSTILE, "https://wire.test/new?a=1&b=2|x>", guid="new", published=datetime.now(UTC))
            feeds.update("/wire.xml", body=rss([new, old]))
            [alert] = await slack.wait_for(lambda: alerts(slack), timeout=120)

            posts = slack.calls_to("chat.postMessage")
            assert posts[0].status == 429
            delivered = next(c for c in posts if c.ok)
            assert delivered.at - posts[0].at >= 2.0  # Slack's Retry-After was honoured, nothing lost
            assert validate_blocks(alert.blocks) == []
            assert alert.pings == ()
            view = alert.view()
            shown = view.text.replace("\u2060", "")
            # ingestion drops the markup-like "<!channel>" as HTML; the rest shows literally, pinging no one
            assert VISIBLE in shown
            assert "<!channel>" not in alert.text and "<!channel>" not in str(alert.blocks)
            [(url, label)] = [lk for lk in view.links if lk[0].startswith("https://wire.test/")]
            assert url == "https://wire.test/new?a=1&b=2%7Cx%3E"
            assert VISIBLE in label.replace("\u2060", "")
            assert "watchlist *cloud-china*" in view.text
            assert len(alerts(slack)) == 1  # once, despite the retry

            # one alert followed end to end in the logs by its story id: stored, retried, sent
            sent = await bot.wait_log(
                r"bot\.delivery\.dispatcher: sent (\S+) .*\[story_id=(\S+) delivery_key=\1 "
            )
            key, story_id = sent.group(1), sent.group(2)
            assert key.startswith(f"story:{story_id}:ch:") and CHANNEL in key
            traced = [line for line in bot.lines if f"story_id={story_id}" in line]
            assert any("bot.ingest.pipeline: story stored, alertable" in line for line in traced), bot.output
            assert any("will be retried" in line and f"delivery_key={key}" in line for line in traced)

            # the websocket drops; the bot comes back and answers again
            slack.drop_connections()
            await slack.wait_connected(newer_than=first.id, timeout=90)
            news = await slack.slash_command("/news", "AMZN", channel=CHANNEL, user="U0TRADER01")
            assert news.user_error is None, news.user_error
            await news.wait_responses(1, timeout=60)
            assert "Slack Socket Mode connected" in bot.output


async def test_http_mode_signed_and_badly_signed(tmp_path: Path) -> None:
    async with FakeSlack() as slack, FeedHost() as feeds, YahooFake() as yahoo:
        feed = feeds.serve("/wire.xml", rss([]))
        (tmp_path / "bot.yaml").write_text(CONFIG.format(feed=feed), encoding="utf-8")
        env = bot_env(tmp_path, slack, yahoo, SLACK_SIGNING_SECRET=slack.signing_secret)
        async with running(env, tmp_path) as bot:
            m = await bot.wait_log(r"http server on (http://127\.0\.0\.1:\d+)", timeout=90)
            url = m.group(1) + "/slack/events"
            signed = await slack.slash_command("/watch", "help", request_url=url, user="U0TRADER01")
            assert signed.http_status == 200 and signed.user_error is None
            [answer] = await signed.wait_responses(1, timeout=30)
            assert answer.ephemeral and "/watch" in answer.visible

            forged = await slack.slash_command(
                "/watch", "delete cloud-china", request_url=url, signing_secret="nope"
            )
            assert forged.http_status == 401 and forged.user_error == "dispatch_failed"
            stale = await slack.slash_command(
                "/watch", "list", request_url=url, timestamp=int(datetime.now(UTC).timestamp()) - 3600
            )
            assert stale.http_status == 401
            # a signed command afterwards: by the time it is answered, the rejected ones would have been
            after = await slack.slash_command("/watch", "help", request_url=url, user="U0TRADER01")
            await after.wait_responses(1, timeout=30)
            assert forged.responses == [] and stale.responses == []
            assert slack.calls_to("apps.connections.open") == []
