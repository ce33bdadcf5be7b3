"""The fake Slack itself, driven by the bare slack_sdk: envelopes, errors and limits as Slack has them.

These keep the fake honest, so the adapter's tests prove something about real Slack.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import FakeSlack, validate_blocks


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])


async def test_envelopes_and_error_codes(fake: FakeSlack, client: AsyncWebClient) -> None:
    ok = await client.chat_postMessage(channel="C0GENERAL1", text="hi")
    assert ok["ok"] is True and ok["channel"] == "C0GENERAL1" and ok["message"]["text"] == "hi"
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0NOPE0001", text="hi")
    assert info.value.response.status_code == 200
    assert info.value.response.data == {"ok": False, "error": "channel_not_found"}
    anonymous = AsyncWebClient(base_url=fake.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as info:
        await anonymous.auth_test()
    assert info.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as info:
        await client.apps_connections_open(app_token=fake.bot_token)
    assert info.value.response["error"] == "not_allowed_token_type"


async def test_rate_limit_is_http_429_with_retry_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=3, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            await client.chat_postMessage(channel="C0GENERAL1", text="hi")
        assert info.value.response.status_code == 429
        assert info.value.response.headers["Retry-After"] == "3"
        assert info.value.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="C0GENERAL1", text="hi"))["ok"]


async def test_block_kit_limits_are_enforced_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0GENERAL1", text="t", blocks=too_long)
    assert info.value.response["error"] == "invalid_blocks"
    assert info.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert validate_blocks([{"type": "divider"}] * 51) == [
        "must be less than 51 items [json-pointer:/blocks]"
    ]
    assert validate_blocks([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}])
    assert validate_blocks([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}])
    assert validate_blocks([{"type": "context", "elements": [{"type": "mrkdwn", "text": "a"}] * 11}])
    assert validate_blocks([{"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}] * 11}])
    assert validate_blocks([{"type": "section", "fields": [{"type": "mrkdwn", "text": "a" * 2001}]}])
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0GENERAL1", text="x" * 40_001)
    assert info.value.response["error"] == "msg_too_long"


async def test_files_upload_v2_flow(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.files_upload_v2(
        channel="C0GENERAL1", file=b"PNGDATA", filename="c.png", title="Chart"
    )
    assert resp["file"]["title"] == "Chart"
    [upload] = fake.uploads.values()
    assert upload.data == b"PNGDATA" and upload.completed and upload.channel == "C0GENERAL1"


async def test_response_url_semantics(fake: FakeSlack) -> None:
    result = await fake.slash_command("/quote", "AMZN")  # no app connected: Slack cannot deliver it
    assert result.user_error == "dispatch_failed"
    hook = AsyncWebhookClient(result.response_url)
    assert (await hook.send(text="first", response_type="in_channel")).status_code == 200
    assert (
        await hook.send(text="second", response_type="in_channel", replace_original=True)
    ).status_code == 200
    [msg] = fake.messages("C0GENERAL1")
    assert msg.visible == "second" and msg.edited
    for _ in range(3):
        assert (await hook.send(text="more")).status_code == 200
    used = await hook.send(text="sixth")
    assert used.status_code == 404 and used.body == "used_url"


async def test_dropped_api_connection(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", drop=True)
    with pytest.raises(aiohttp.ClientError):
        await client.chat_postMessage(channel="C0GENERAL1", text="hi")
    assert fake.messages("C0GENERAL1") == []
