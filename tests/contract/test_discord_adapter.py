"""DiscordAdapter as a ChatAdapter: the real discord.py against the fake Discord on loopback.

Every assertion is about what Discord received and what a reader of the channel would see:
one embed per alert with nothing allowed to ping, threads and replies for follow-ups, edits
in place, rate limits that delay but lose nothing, and channel problems that say they are
permanent and what to fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

import aiohttp
import discord
import pytest

from bot.chat.discord_bot import DiscordAdapter
from bot.delivery.escape import clean_alert, one_line
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
from bot.ports import ChatAdapter
from tests.fakes.discord import DiscordFake, World, render_markdown
from tests.support.factories import news_alert
from tests.support.wait import wait_until

NOW = datetime.now(UTC)
POST_MESSAGE = "POST /channels/{channel_id}/messages"

HOSTILE = [
    "@everyone NVDA halted",
    "@here cloud export rules",
    "<@123456789012345678> says buy",
    "<@&456456456456456456> role alert",
    "**pump** __it__ ~~now~~ ||secret|| `rm -rf`",
    "[Reuters](https://evil.example/phish) exclusive",
    "# BREAKING\n> quoted @everyone",
]


story = partial(news_alert, now=NOW, clean=True, tickers=(TickerLine("AMZN", None), TickerLine("MSFT", None)))


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as server:
        yield server


@pytest.fixture
def world(fake: DiscordFake) -> World:
    return fake.world()


@pytest.fixture
async def adapter(fake: DiscordFake, world: World) -> AsyncIterator[DiscordAdapter]:
    async with DiscordAdapter(token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url) as a:
        yield a


def target(world: World) -> ChannelRef:
    return ChannelRef("discord", str(world.channel.id), workspace=str(world.guild.id))


# ---------------------------------------------------------------- alerts


async def test_alert_is_one_embed_with_no_mentions_allowed(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    ref = await adapter.send(story(target(world)), target=target(world))

    (msg,) = fake.messages(world.channel.id)
    assert ref == MessageRef(channel=target(world), id=str(msg.id))
    (request,) = fake.requests_to(POST_MESSAGE)
    assert request.json["allowed_mentions"]["parse"] == []
    assert not request.json["allowed_mentions"].get("users") and not request.json["allowed_mentions"].get(
        "roles"
    )
    assert "content" not in request.json or not request.json["content"]
    assert request.json["enforce_nonce"] is True and len(request.json["nonce"]) <= 25
    (embed,) = msg.embeds
    assert embed["title"] == "Amazon wins cloud deal in China"
    assert embed["url"] == "https://news.example.com/amzn"
    assert [f["name"] for f in embed["fields"]] == ["AMZN", "MSFT", "Matched"]
    assert embed["fields"][0]["value"] == "price unavailable"
    assert embed["footer"]["text"] == "Reuters · cloud-china"
    assert msg.pinged == [] and msg.payload["mention_everyone"] is False


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_hostile_titles_ping_nobody(
    fake: DiscordFake, world: World, adapter: DiscordAdapter, hostile: str
) -> None:
    alert = story(target(world), title=hostile, summary=hostile, source=hostile, terms=(hostile,))
    await adapter.send(alert, target=target(world))

    (msg,) = fake.messages(world.channel.id)
    assert msg.pinged == [] and not msg.payload["mention_everyone"]
    assert msg.allowed_mentions is not None and msg.allowed_mentions["parse"] == []
    for part in msg.visible():
        assert part.mentions == [] and part.links == [] and not part.formatted, part
    assert msg.visible()[0].text == one_line(hostile), "the headline reads exactly as the feed wrote it"


async def test_the_same_alert_twice_is_one_message(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    """An outbox retry after a lost response: Discord drops the repeat by its nonce."""
    alert = story(target(world))
    first = await adapter.send(alert, target=target(world))
    second = await adapter.send(alert, target=target(world))
    assert first == second
    assert len(fake.messages(world.channel.id)) == 1
    assert len(fake.requests_to(POST_MESSAGE)) == 2


async def test_reply_with_a_chart_uploads_the_file(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    reply = Reply(title="AMZN", attachments=(Attachment("AMZN.png", png, title="AMZN today"),))
    await adapter.send(reply, target=target(world))
    (msg,) = fake.messages(world.channel.id)
    assert msg.file("AMZN.png") == png
    assert msg.embeds[0]["image"]["url"] == msg.attachments[0]["url"]
    assert msg.attachments[0]["description"] == "AMZN today"


# ---------------------------------------------------------------- rate limits and failures


async def test_429_delays_the_send_but_loses_nothing(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    fake.fail(POST_MESSAGE, status=429, times=2, retry_after=0.2, channel_id=world.channel.id)
    await adapter.send(story(target(world)), target=target(world))

    attempts = fake.requests_to(POST_MESSAGE)
    assert [r.status for r in attempts] == [429, 429, 200]
    assert len(fake.messages(world.channel.id)) == 1


async def test_a_long_rate_limit_is_handed_to_the_outbox(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    """Longer than max_ratelimit_timeout: discord.py does not sleep; nothing was sent."""
    fake.fail(POST_MESSAGE, status=429, times=1, retry_after=120.0)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(story(target(world)), target=target(world))
    err = caught.value
    assert err.retryable and err.code == "ratelimited" and err.retry_after == pytest.approx(120.0)
    assert fake.messages(world.channel.id) == []
    assert len(fake.requests_to(POST_MESSAGE)) == 1


async def test_the_channel_rate_limit_queues_a_burst(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    """Seven alerts at once into a 5-per-5s channel: discord.py waits for the bucket; all arrive, in order."""
    fake.message_rate = (5, 1.0)
    for i in range(7):
        await adapter.send(
            story(target(world), key=f"story:s{i}:sub:1", title=f"Story {i}"), target=target(world)
        )
    titles = [m.embeds[0]["title"] for m in fake.messages(world.channel.id)]
    assert titles == [f"Story {i}" for i in range(7)]


@pytest.mark.parametrize(
    ("breakage", "code", "fix"),
    [
        ("hide", "missing_access", "View Channel"),
        ("deny", "missing_permissions", "Send Messages"),
        ("delete", "unknown_channel", "unsubscribe it"),
    ],
)
async def test_channel_problems_are_permanent(
    fake: DiscordFake, world: World, adapter: DiscordAdapter, breakage: str, code: str, fix: str
) -> None:
    if breakage == "deny":
        world.channel.deny("send_messages")
    else:
        getattr(world.channel, breakage)()
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(story(target(world)), target=target(world))
    assert caught.value.retryable is False
    assert caught.value.code == code
    assert fix in str(caught.value) and str(world.channel.id) in str(caught.value)
    assert fake.messages(world.channel.id, include_deleted=True) == []


async def test_server_errors_are_retryable(fake: DiscordFake, world: World, adapter: DiscordAdapter) -> None:
    fake.fail(POST_MESSAGE, status=503, times=1)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(story(target(world)), target=target(world))
    assert caught.value.retryable and caught.value.code == "server_error"


async def test_a_502_is_retried_by_discord_py_once_and_sent(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    fake.fail(POST_MESSAGE, status=502, times=1)
    await adapter.send(story(target(world)), target=target(world))
    assert [r.status for r in fake.requests_to(POST_MESSAGE)] == [502, 200]
    assert len(fake.messages(world.channel.id)) == 1


async def test_a_revoked_token_is_permanent(fake: DiscordFake, world: World, adapter: DiscordAdapter) -> None:
    fake.revoke_token()
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(story(target(world)), target=target(world))
    assert caught.value.retryable is False and caught.value.code == "unauthorized"
    assert "DISCORD_BOT_TOKEN" in str(caught.value)
    assert isinstance(caught.value, CredentialsRejected)  # the whole platform's problem, not the channel's


async def test_a_refused_embed_is_sent_as_text(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    fake.fail(POST_MESSAGE, status=400, code=50035, message="Invalid Form Body")
    await adapter.send(story(target(world), title="@everyone *deal*"), target=target(world))
    (msg,) = fake.messages(world.channel.id)
    assert msg.embeds == []
    assert "@everyone *deal*" in render_markdown(msg.content).text
    assert msg.pinged == [] and msg.allowed_mentions is not None and msg.allowed_mentions["parse"] == []


async def test_wrong_ids_are_permanent(adapter: DiscordAdapter) -> None:
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(Reply(text="x"), target=ChannelRef("slack", "C0123ABCD"))
    assert caught.value.retryable is False
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(Reply(text="x"), target=ChannelRef("discord", "general"))
    assert caught.value.retryable is False


# ---------------------------------------------------------------- follow-ups and edits


def followup(world: World, *, thread_of: str | None = None, key: str = "followup:s1:sub:1:0") -> Alert:
    return clean_alert(
        Alert(
            key=key,
            kind="followup",
            channel=target(world),
            watchlist="cloud-china",
            title="Amazon wins cloud deal in China",
            entries=(DigestEntry(title="t", link="https://cnbc.example/a", source="CNBC"),),
            note="Also reported by CNBC",
            story_id="s1",
            thread_of=thread_of,
        )
    )


async def test_followups_go_in_a_thread_on_the_alert(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    ref = await adapter.send(story(target(world)), target=target(world))
    first = await adapter.send(followup(world), target=target(world), thread=ref)
    second = await adapter.send(followup(world, key="followup:s1:sub:1:1"), target=target(world), thread=ref)

    thread = fake.channel(int(ref.id))
    assert thread.type == 11 and thread.parent_id == world.channel.id
    assert thread.name == "Amazon wins cloud deal in China"
    assert [str(m.id) for m in fake.messages(thread.id)] == [first.id, second.id]
    assert first.thread_id == second.thread_id == ref.id
    assert len(fake.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads")) == 1
    shown = fake.messages(thread.id)[0].visible()[0]
    assert shown.text == "Also reported by CNBC" and shown.links == [("CNBC", "https://cnbc.example/a")]
    assert len(fake.messages(world.channel.id)) == 1, "the channel itself shows only the alert"


async def test_a_restarted_bot_finds_the_existing_thread(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    ref = await adapter.send(story(target(world)), target=target(world))
    await adapter.send(followup(world), target=target(world), thread=ref)
    async with DiscordAdapter(token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url) as again:
        later = await again.send(followup(world, key="followup:s1:sub:1:2"), target=target(world), thread=ref)
    assert later.thread_id == ref.id
    assert len(fake.messages(int(ref.id))) == 2
    statuses = [
        r.status for r in fake.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads")
    ]
    assert statuses == [201, 400]  # the second start said "already exists" (160004)


async def test_followups_are_replies_where_threads_are_not_allowed(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    world.channel.deny("create_public_threads")
    ref = await adapter.send(story(target(world)), target=target(world))
    reply = await adapter.send(followup(world), target=target(world), thread=ref)
    assert reply.thread_id is None
    _alert, reply_msg = fake.messages(world.channel.id)
    assert reply_msg.payload["message_reference"]["message_id"] == ref.id
    assert reply_msg.payload["type"] == 19
    assert reply_msg.pinged == [] and reply_msg.request["allowed_mentions"]["parse"] == []


async def test_with_threads_off_a_followup_replies_in_the_channel(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    ref = await adapter.send(story(target(world)), target=target(world))
    await adapter.send(followup(world, thread_of=ref.id), target=target(world))
    _, reply_msg = fake.messages(world.channel.id)
    assert reply_msg.payload["message_reference"]["message_id"] == ref.id
    assert fake.requests_to("POST /channels/{channel_id}/messages/{message_id}/threads") == []


async def test_late_prices_edit_the_alert_in_place(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    alert = story(target(world))
    ref = await adapter.send(alert, target=target(world))
    priced = Quote("AMZN", 183.1, 181.2, 1.9, 1.05, TradingSession.PRE, NOW, "USD")
    await adapter.edit(
        ref, story(target(world), tickers=(TickerLine("AMZN", priced), TickerLine("MSFT", None)), late=True)
    )

    (msg,) = fake.messages(world.channel.id)
    assert msg.edited
    assert msg.embeds[0]["fields"][0] == {
        "name": "▲ AMZN",
        "value": "$183.10 · +1.05% · pre-market",
        "inline": True,
    }
    (patch,) = fake.requests_to("PATCH /channels/{channel_id}/messages/{message_id}")
    assert patch.json["allowed_mentions"]["parse"] == []


async def test_a_followup_in_a_thread_is_edited_in_the_thread(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    ref = await adapter.send(story(target(world)), target=target(world))
    in_thread = await adapter.send(followup(world), target=target(world), thread=ref)
    await adapter.edit(
        in_thread, dataclass_replace(followup(world), note="Also reported by CNBC and Bloomberg")
    )
    (patch,) = fake.requests_to("PATCH /channels/{channel_id}/messages/{message_id}")
    assert patch.path.split("/")[4] == ref.id  # the thread's channel id


def dataclass_replace(alert: Alert, **changes: object) -> Alert:
    import dataclasses

    return dataclasses.replace(alert, entries=(), **changes)  # type: ignore[arg-type]


async def test_editing_a_deleted_message_is_permanent(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    ref = await adapter.send(story(target(world)), target=target(world))
    fake.messages(world.channel.id)[0].deleted = True
    with pytest.raises(DeliveryError) as caught:
        await adapter.edit(ref, story(target(world)))
    assert caught.value.retryable is False and caught.value.code == "unknown_message"


# ---------------------------------------------------------------- lifecycle


def _our_tasks() -> list[asyncio.Task[object]]:
    me = asyncio.current_task()
    out = []
    for t in asyncio.all_tasks():
        if t is me:
            continue
        code = getattr(t.get_coro(), "cr_code", None)
        module = code.co_filename if code else ""
        if (
            "discord" in module
            or "bot/chat" in module
            or t.get_name().startswith(("discord-", "CommandTree"))
        ):
            out.append(t)
    return out


async def test_nothing_is_left_running_after_aclose(fake: DiscordFake, world: World) -> None:
    from discord.http import Route

    before = Route.BASE
    adapter = DiscordAdapter(token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url)
    await adapter.start()
    assert fake.api_url == Route.BASE
    await adapter.send(story(target(world)), target=target(world))
    await adapter.aclose()
    await asyncio.sleep(0)  # noqa: TID251 - one loop turn (not time) for cancelled tasks to finish
    assert _our_tasks() == []
    assert before == Route.BASE
    conn = fake.connections[-1]
    await fake.wait_for(lambda: conn.ws.closed, what="the gateway socket closing")
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(story(target(world)), target=target(world))
    assert caught.value.retryable and caught.value.code == "not_started"


async def test_a_rejected_token_pauses_start_up_until_discord_accepts_it(
    fake: DiscordFake, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fake.revoke_token()
    adapter = DiscordAdapter(
        token=fake._valid_token or "", api_url=fake.api_url, gateway_url=fake.gateway_url
    )
    await adapter.start()
    try:
        problem = adapter.auth_problem
        assert isinstance(problem, CredentialsRejected) and problem.setting == "DISCORD_BOT_TOKEN"
        assert "Reset Token" in str(problem) and "DISCORD_BOT_TOKEN" in adapter.status()["auth"]
        assert fake.connections == []  # no gateway session with a refused token
        with pytest.raises(CredentialsRejected):
            await adapter.send(story(target(world)), target=target(world))
        with pytest.raises(CredentialsRejected):
            await adapter.check_auth()
        assert caplog.text.count("Discord delivery is paused") == 1
        fake.restore_token()
        await adapter.check_auth()  # logs in, syncs and connects
        await adapter.wait_connected(timeout=30)
        assert adapter.auth_problem is None and adapter.application_id == fake.application_id
        await adapter.send(story(target(world)), target=target(world))
        assert len(fake.messages(world.channel.id)) == 1
    finally:
        await adapter.aclose()
    await asyncio.sleep(0)  # noqa: TID251 - one loop turn (not time) for cancelled tasks to finish
    assert _our_tasks() == []


async def test_a_token_reset_while_running_reconnects_once_it_works_again(
    fake: DiscordFake, world: World, adapter: DiscordAdapter
) -> None:
    await adapter.wait_connected(timeout=30)
    await fake.reset_token()  # REST 401 and the session closed with 4004
    await wait_until(lambda: adapter.auth_problem, what="the adapter noticing the 4004 close")
    assert not adapter.connected
    with pytest.raises(CredentialsRejected):
        await adapter.send(story(target(world)), target=target(world))
    with pytest.raises(CredentialsRejected):
        await adapter.check_auth()
    fake.restore_token()
    await adapter.check_auth()
    await adapter.wait_connected(timeout=30)
    assert fake.identify_count == 2
    await adapter.send(story(target(world)), target=target(world))
    assert len(fake.messages(world.channel.id)) == 1


async def test_discord_unreachable_does_not_stop_start_up(caplog: pytest.LogCaptureFixture) -> None:
    async with DiscordFake() as gone:
        api, gateway = gone.api_url, gone.gateway_url
    caplog.set_level(logging.WARNING, "bot.chat.discord_bot")
    adapter = DiscordAdapter(token="t", api_url=api, gateway_url=gateway, connect_timeout=0.3)
    await adapter.start()
    try:
        assert not adapter.connected
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(Reply(text="x"), target=ChannelRef("discord", "112233445566778899"))
        assert caught.value.retryable
        assert "cannot log in yet" in caplog.text
    finally:
        await adapter.aclose()
    await asyncio.sleep(0)  # noqa: TID251 - one loop turn (not time) for cancelled tasks to finish
    assert _our_tasks() == []


def test_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN"):
        DiscordAdapter(token="  ")


async def test_it_is_a_chat_adapter_on_real_discord_py(adapter: DiscordAdapter, fake: DiscordFake) -> None:
    assert isinstance(adapter, ChatAdapter)
    assert adapter.platform == "discord" and adapter.channel_rate == (5, 5.0)
    assert discord.__version__.startswith("2.7")
    # discord.py parses a body as JSON only when the content type is exactly application/json
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.api_url}/users/@me", headers={"Authorization": f"Bot {fake.token}"}) as resp,
    ):
        assert resp.headers["Content-Type"] == "application/json"
        assert {
            "X-RateLimit-Bucket",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Reset-After",
        } <= set(resp.headers)
