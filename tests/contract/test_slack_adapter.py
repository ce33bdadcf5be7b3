"""SlackAdapter against a Slack on 127.0.0.1 with the real slack_sdk: what lands in the channel.

Sending, threading, editing, uploads, and how each Slack failure maps to a DeliveryError that
tells the outbox whether retrying can help.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from bot.chat.slack_app import SlackAdapter
from bot.config import load_env
from bot.domain.errors import ConfigError, CredentialsRejected, DeliveryError
from bot.domain.models import (
    Alert,
    Attachment,
    ChannelRef,
    DigestEntry,
    MessageRef,
    Quote,
    Reply,
    TickerLine,
    TradingSession,
)
from bot.domain.timeutil import ManualClock
from bot.ports import ChatAdapter
from tests.fakes.slack import FakeSlack, validate_blocks
from tests.support.factories import news_alert, quote

ALERTS = "C0ALERTS01"
TARGET = ChannelRef("slack", ALERTS)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_channel(ALERTS, "alerts")
        yield server


@pytest.fixture
async def slack(fake: FakeSlack, clock: ManualClock) -> AsyncIterator[SlackAdapter]:
    adapter = SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        clock=clock,
        ping_interval=1.0,  # aiohttp wants each pong within half of it: 0.5 s, not 0.1 s
    )
    async with adapter:
        yield adapter


def client_tasks() -> set[asyncio.Task[object]]:
    """Running tasks that belong to the bot or the Slack SDK (not the fake server's own handlers)."""
    out = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code else ""
        if any(part in filename for part in ("slack_sdk", "slack_bolt", "/bot/")):
            out.add(task)
    return out


def make_alert(clock: ManualClock, **kw: object) -> Alert:
    """The shared news alert as this module's Slack tests see it: at the clock's time, AMZN priced."""
    now = clock.now()
    amzn = quote("AMZN", 185.2, 1.26, previous_close=182.9, change=2.3, as_of=now)
    sample: dict[str, object] = {
        "key": "story-1:sub-1",
        "title": "Amazon expands cloud region in Shanghai",
        "link": "https://news.example/amzn?id=1&src=rss",
        "summary": "AWS will open a new region next year.",
        "tickers": (TickerLine("AMZN", amzn), TickerLine("BABA", None)),
        "story_id": None,
    }
    return news_alert(TARGET, now=now, **(sample | kw))


async def test_adapter_satisfies_the_chat_port(slack: SlackAdapter) -> None:
    assert isinstance(slack, ChatAdapter)
    assert slack.platform == "slack"
    assert slack.channel_rate == (1, 1.0)
    assert slack.status()["team_id"] == "T0FAKE0001"


async def test_alert_arrives_as_valid_block_kit(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock
) -> None:
    ref = await slack.send(make_alert(clock), target=TARGET)
    [msg] = fake.messages(ALERTS)
    assert ref == MessageRef(TARGET, msg.ts, None)
    assert validate_blocks(msg.blocks) == []
    view = msg.view()
    assert view.text.splitlines()[0] == "*Amazon expands cloud region in Shanghai*"
    assert ("https://news.example/amzn?id=1&src=rss", "Amazon expands cloud region in Shanghai") in view.links
    assert "Reuters · 12 min ago · watchlist *cloud-china*" in view.text
    assert "*AMZN*  $185.20\n▲ +1.26% · pre-market" in view.text
    assert "*BABA*\nprice unavailable" in view.text
    assert (
        msg.notification().text
        == "Amazon expands cloud region in Shanghai — Reuters · AMZN +1.26% pre-market"
    )
    assert msg.pings == ()
    assert msg.unfurl_links is False
    [call] = fake.calls_to("chat.postMessage")
    assert call.token == fake.bot_token


async def test_hostile_feed_text_arrives_escaped(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock
) -> None:
    hostile = "<!channel> <!here> <@U123> <#C0GENERAL1> <!subteam^S01> @everyone @here AT&T <b>"
    alert = make_alert(
        clock, title=hostile, summary=hostile, source="<@U999>", link="javascript:alert(document.cookie)"
    )
    await slack.send(alert, target=TARGET)
    [msg] = fake.messages(ALERTS)
    assert validate_blocks(msg.blocks) == []
    assert msg.pings == ()
    shown = msg.visible.replace("\u2060", "")
    assert f"*{hostile}*" in shown
    assert msg.view().links == ()  # javascript: is never a link
    assert msg.notification().text.replace("\u2060", "").startswith(hostile)


async def test_followups_go_to_the_thread(fake: FakeSlack, slack: SlackAdapter, clock: ManualClock) -> None:
    parent = await slack.send(make_alert(clock), target=TARGET)
    followup = make_alert(
        clock,
        key="story-1:sub-1:followup",
        kind="followup",
        entries=(DigestEntry("Same", "https://bloomberg.example/x", "Bloomberg"),),
        note="Also reported by Bloomberg",
        thread_of=parent.id,
    )
    ref = await slack.send(followup, target=TARGET, thread=parent)
    assert ref.thread_id == parent.id
    again = await slack.send(followup, target=TARGET, thread=ref)  # a reply to a reply: same thread
    assert again.thread_id == parent.id
    replies = fake.thread(ALERTS, parent.id)
    assert len(replies) == 2
    assert replies[0].visible == "Also reported by Bloomberg"
    assert replies[0].view().links == (("https://bloomberg.example/x", "Bloomberg"),)
    # threads off: the dispatcher passes no thread, and the reply stands alone with its headline
    alone = await slack.send(followup, target=TARGET)
    assert alone.thread_id is None
    top = fake.messages(ALERTS)[-1]
    assert top.thread_ts is None
    assert top.visible == "*Amazon expands cloud region in Shanghai*\nAlso reported by Bloomberg"


async def test_late_prices_edit_the_message(fake: FakeSlack, slack: SlackAdapter, clock: ManualClock) -> None:
    first = make_alert(clock, tickers=(TickerLine("AMZN", None),))
    ref = await slack.send(first, target=TARGET)
    later = make_alert(
        clock,
        tickers=(TickerLine("AMZN", Quote("AMZN", 190.0, 185.0, 5.0, 2.7, TradingSession.REGULAR, None)),),
    )
    await slack.edit(ref, later)
    [msg] = fake.messages(ALERTS)
    assert msg.edited
    assert "price unavailable" not in msg.visible
    assert "*AMZN*  $190.00\n▲ +2.70% · regular" in msg.visible
    assert validate_blocks(msg.blocks) == []


async def test_rate_limit_is_retryable_with_retry_after_and_not_retried_inside(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock
) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(DeliveryError) as info:
        await slack.send(make_alert(clock), target=TARGET)
    err = info.value
    assert err.retryable is True
    assert err.retry_after == 7.0
    assert err.code == "ratelimited"
    assert len(fake.calls_to("chat.postMessage")) == 1  # slack_sdk did not retry on its own
    assert fake.messages(ALERTS) == []
    await slack.send(make_alert(clock), target=TARGET)  # the next attempt goes through
    assert len(fake.messages(ALERTS)) == 1


async def test_ratelimited_error_in_a_200_body_is_retryable(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock
) -> None:
    fake.fail_next("chat.postMessage", error="ratelimited")
    with pytest.raises(DeliveryError) as info:
        await slack.send(make_alert(clock), target=TARGET)
    assert info.value.retryable and info.value.code == "ratelimited" and info.value.retry_after is None


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ({"status": 503}, "http_503"),
        ({"status": 500}, "http_500"),
        ({"drop": True}, "connection_error"),
        ({"error": "internal_error"}, "internal_error"),
        ({"error": "fatal_error"}, "fatal_error"),
    ],
)
async def test_server_side_failures_are_retryable(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock, script: dict[str, object], code: str
) -> None:
    fake.fail_next("chat.postMessage", **script)  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as info:
        await slack.send(make_alert(clock), target=TARGET)
    assert info.value.retryable is True
    assert info.value.code == code
    assert fake.messages(ALERTS) == []


async def test_a_slow_slack_times_out_as_retryable(fake: FakeSlack, clock: ManualClock) -> None:
    async with SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        clock=clock,
        timeout=0.5,
        ping_interval=1.0,
    ) as slack:
        fake.fail_next("chat.postMessage", delay=2.0, error="ratelimited")
        with pytest.raises(DeliveryError) as info:
            await slack.send(make_alert(clock), target=TARGET)
    assert info.value.retryable is True
    assert info.value.code == "timeout"


def _remove(fake: FakeSlack) -> None:
    fake.remove_channel(ALERTS)


def _kick(fake: FakeSlack) -> None:
    fake.channels[ALERTS].is_member = False


def _archive(fake: FakeSlack) -> None:
    fake.channels[ALERTS].is_archived = True


def _private_without_bot(fake: FakeSlack) -> None:
    fake.add_channel(ALERTS, "secret", private=True, member=False)


def _token(error: str) -> Callable[[FakeSlack], None]:
    def apply(fake: FakeSlack) -> None:
        fake.set_token_state(fake.bot_token, error)

    return apply


def _drop_scope(fake: FakeSlack) -> None:
    fake.tokens[fake.bot_token].scopes.discard("chat:write")


@pytest.mark.parametrize(
    ("breakage", "code", "hint"),
    [
        (_remove, "channel_not_found", "was not found"),
        (_private_without_bot, "channel_not_found", "/invite"),
        (_kick, "not_in_channel", "/invite"),
        (_archive, "is_archived", "archived"),
        (_token("token_revoked"), "token_revoked", "reinstall"),
        (_token("account_inactive"), "account_inactive", "reinstall"),
        (_token("invalid_auth"), "invalid_auth", "SLACK_BOT_TOKEN"),
        (_drop_scope, "missing_scope", "chat:write"),
    ],
)
async def test_permanent_failures_say_what_to_fix(
    fake: FakeSlack,
    slack: SlackAdapter,
    clock: ManualClock,
    breakage: Callable[[FakeSlack], None],
    code: str,
    hint: str,
) -> None:
    breakage(fake)
    with pytest.raises(DeliveryError) as info:
        await slack.send(make_alert(clock), target=TARGET)
    assert info.value.retryable is False
    assert info.value.code == code
    assert hint in str(info.value)
    assert fake.messages(ALERTS) == []
    # the token's (or the app's) problem pauses all of Slack; the channel's breaks one subscription
    platform_wide = code in ("token_revoked", "account_inactive", "invalid_auth", "missing_scope")
    assert isinstance(info.value, CredentialsRejected) is platform_wide


async def test_editing_a_vanished_message_is_permanent(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock
) -> None:
    with pytest.raises(DeliveryError) as info:
        await slack.edit(MessageRef(TARGET, "1700000000.000001"), make_alert(clock))
    assert info.value.retryable is False and info.value.code == "message_not_found"


async def test_refused_blocks_are_resent_as_text(
    fake: FakeSlack, slack: SlackAdapter, clock: ManualClock
) -> None:
    fake.fail_next("chat.postMessage", error="invalid_blocks")
    await slack.send(make_alert(clock), target=TARGET)
    [msg] = fake.messages(ALERTS)
    assert msg.blocks == []
    assert "Amazon expands cloud region in Shanghai" in msg.visible
    assert "price unavailable" in msg.visible
    assert [c.error for c in fake.calls_to("chat.postMessage")] == ["invalid_blocks", None]


async def test_reply_with_a_chart_is_uploaded_with_files_v2(fake: FakeSlack, slack: SlackAdapter) -> None:
    reply = Reply(
        title="AMZN", text="Chart attached.", attachments=(Attachment("AMZN.png", PNG, title="AMZN today"),)
    )
    await slack.send(reply, target=TARGET)
    text_msg, file_msg = fake.messages(ALERTS)
    assert text_msg.visible.startswith("AMZN\nChart attached.")
    assert file_msg.via == "file_share"
    assert [(f["name"], f["title"], f["data"]) for f in file_msg.files] == [("AMZN.png", "AMZN today", PNG)]
    flow = [c.method for c in fake.calls if c.method.startswith("files.")]
    assert flow == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    assert fake.calls_to("files.getUploadURLExternal")[0].params["length"] == str(len(PNG))


async def test_other_platforms_are_refused_permanently(slack: SlackAdapter, clock: ManualClock) -> None:
    with pytest.raises(DeliveryError) as info:
        await slack.send(make_alert(clock), target=ChannelRef("discord", "112233445566778899"))
    assert info.value.retryable is False


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked"])
async def test_a_rejected_app_token_stops_start_up_with_a_fix(fake: FakeSlack, error: str) -> None:
    fake.set_token_state(fake.app_token, error)
    adapter = SlackAdapter(
        bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, ping_interval=1.0
    )
    with pytest.raises(ConfigError) as info:
        await adapter.start()
    assert "SLACK_APP_TOKEN" in str(info.value)
    assert fake.bot_token not in str(info.value) and fake.app_token not in str(info.value)
    assert client_tasks() == set()


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("invalid_auth", "Bot User OAuth Token"),
        ("token_revoked", "reinstall"),
        ("account_inactive", "reinstall"),
        ("token_expired", "rotation"),
        ("not_allowed_token_type", "not a bot token"),
    ],
)
async def test_a_rejected_bot_token_pauses_instead_of_stopping_start_up(
    fake: FakeSlack, clock: ManualClock, error: str, hint: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.set_token_state(fake.bot_token, error)
    adapter = SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        ping_interval=0.2,
        clock=clock,
    )
    async with adapter:
        problem = adapter.auth_problem
        assert isinstance(problem, CredentialsRejected)
        assert problem.code == error and problem.setting == "SLACK_BOT_TOKEN" and hint in str(problem)
        assert fake.bot_token not in caplog.text
        assert "SLACK_BOT_TOKEN" in adapter.status()["auth"]
        with pytest.raises(CredentialsRejected):
            await adapter.check_auth()
        # a send is refused the same way: the platform's problem, not the channel's
        with pytest.raises(CredentialsRejected) as sent:
            await adapter.send(make_alert(clock), target=TARGET)
        assert sent.value.platform == "slack"
        fake.restore_bot_token()
        await adapter.check_auth()
        assert adapter.auth_problem is None and adapter.identity is not None
        assert adapter.status()["auth"] == "ok"
        await adapter.send(make_alert(clock), target=TARGET)
        assert len(fake.messages(ALERTS)) == 1
    assert client_tasks() == set()


async def test_a_token_without_chat_write_is_refused_by_check_auth(fake: FakeSlack) -> None:
    fake.tokens[fake.bot_token].scopes.discard("chat:write")
    async with SlackAdapter(bot_token=fake.bot_token, signing_secret="s", api_url=fake.api_url) as adapter:
        with pytest.raises(CredentialsRejected) as info:
            await adapter.check_auth()
        assert info.value.code == "missing_scope" and "chat:write" in str(info.value)
        fake.tokens[fake.bot_token].scopes.add("chat:write")
        await adapter.check_auth()
        assert adapter.auth_problem is None


async def test_start_survives_slack_being_down(fake: FakeSlack, clock: ManualClock) -> None:
    fake.fail_next("auth.test", status=503)
    async with SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        clock=clock,
        ping_interval=1.0,
    ) as slack:
        await slack.send(make_alert(clock), target=TARGET)
        assert len(fake.messages(ALERTS)) == 1


async def test_aclose_leaves_nothing_running(fake: FakeSlack, clock: ManualClock) -> None:
    adapter = SlackAdapter(
        bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, ping_interval=1.0
    )
    await adapter.start()
    assert client_tasks()
    assert adapter.connected
    await adapter.send(make_alert(clock), target=TARGET)
    await adapter.aclose()
    await asyncio.sleep(0)  # noqa: TID251 - one loop turn (not time) for cancelled tasks to finish
    assert client_tasks() == set()
    assert fake.live_connections == [] or await fake.wait_for(lambda: fake.live_connections == [])
    with pytest.raises(DeliveryError):
        await adapter.send(make_alert(clock), target=TARGET)


def test_settings_choose_the_mode_and_api_base() -> None:
    env = load_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": "https://slack-gov.com/api",
        },
        dotenv=None,
    )
    adapter = SlackAdapter.from_settings(env)
    assert adapter.mode == "socket"
    assert adapter.api_url == "https://slack-gov.com/api/"
    assert adapter.web_routes() == []
    http = SlackAdapter.from_settings(
        load_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, dotenv=None)
    )
    assert http.mode == "http" and http.api_url == "https://slack.com/api/"
    assert [(m, p) for m, p, _ in http.web_routes()] == [("POST", "/slack/events")]
    with pytest.raises(ConfigError, match=r"SLACK_APP_TOKEN .* or SLACK_SIGNING_SECRET"):
        SlackAdapter.from_settings(load_env({"SLACK_BOT_TOKEN": "xoxb-1"}, dotenv=None))
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        SlackAdapter.from_settings(load_env({"SLACK_APP_TOKEN": "xapp-1"}, dotenv=None))
    with pytest.raises(ConfigError, match="SLACK_API_URL"):
        SlackAdapter(bot_token="xoxb-1", app_token="xapp-1", api_url="slack-gov.com/api")


async def test_a_token_in_the_environment_does_not_make_bolt_complain(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake.bot_token)  # as in production, where bolt also looks
    async with SlackAdapter(bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url):
        pass
    assert "token" not in " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert fake.bot_token not in caplog.text and fake.app_token not in caplog.text
