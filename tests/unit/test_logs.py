"""Logs: one line per event, JSON on request, secrets never printed."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bot.logs import bind_trace, setup_logging, traced


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_with_secrets_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(fmt="json", level="INFO", secrets=["my-signing-secret-123"])
    log = logging.getLogger("bot.test")
    log.info(
        "connecting with %s and %s", "xoxb-1234-5678-abcdefgh", "my-signing-secret-123", extra={"feed": "a"}
    )
    log.warning("db postgresql+asyncpg://bot:hunter22@db/marketbot unreachable")
    try:
        raise RuntimeError("token xapp-1-A0B1C2-999 rejected")
    except RuntimeError:
        log.exception("slack failed")
    lines = capsys.readouterr().err.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["info", "warning", "error"]
    text = "\n".join(lines)
    for secret in ("xoxb-1234", "my-signing-secret-123", "hunter22", "xapp-1-A0B1C2"):
        assert secret not in text
    assert records[0]["feed"] == "a"
    assert "RuntimeError" in records[2]["exception"]


def test_text_format_is_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(fmt="text", level="INFO")
    logging.getLogger("bot.x").info("hello\nworld")
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "INFO  bot.x: hello\n    world" in err


def test_trace_fields_follow_a_story_in_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Bound story id, delivery key and channel reach every record, in the task that bound them
    and the tasks and threads it starts, and nowhere else."""
    setup_logging(fmt="json", level="INFO")
    log = logging.getLogger("bot.trace")

    async def deliver(key: str) -> None:
        bind_trace(story_id="s1", delivery_key=key, channel="slack:T1/C1")
        log.info("claimed")
        await asyncio.to_thread(log.info, "in a worker thread")

    async def main() -> None:
        with traced(story_id="s0"):
            log.info("stored")
            log.info("explicit wins", extra={"story_id": "other"})
        log.info("outside")
        await asyncio.gather(deliver("story:s1:ch:a"), deliver("story:s1:ch:b"))
        log.info("after the tasks")

    asyncio.run(main())
    records = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    by_message: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_message.setdefault(str(r["message"]), []).append(r)
    assert by_message["stored"][0]["story_id"] == "s0"
    assert by_message["explicit wins"][0]["story_id"] == "other"
    for plain in ("outside", "after the tasks"):
        assert not {"story_id", "delivery_key", "channel"} & set(by_message[plain][0])
    keys = sorted(str(r["delivery_key"]) for r in by_message["in a worker thread"])
    assert keys == ["story:s1:ch:a", "story:s1:ch:b"]
    assert all(r["story_id"] == "s1" and r["channel"] == "slack:T1/C1" for r in by_message["claimed"])

    setup_logging(fmt="text", level="INFO")
    with traced(story_id="s9", delivery_key="story:s9:ch:x"):
        log.info("sent")
    try:
        with traced(story_id="s9"):
            raise RuntimeError("boom")
    except RuntimeError:
        with traced(story_id="s9"):
            log.exception("failed")
    err = capsys.readouterr().err
    assert "bot.trace: sent [story_id=s9 delivery_key=story:s9:ch:x]\n" in err
    # the suffix stays on the message's line, before the indented traceback
    assert "bot.trace: failed [story_id=s9]\n    Traceback" in err


def test_unknown_trace_field_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown trace field"), traced(story="s1"):
        pass
