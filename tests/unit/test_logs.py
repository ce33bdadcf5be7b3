"""Logs: one line per event, JSON on request, secrets never printed."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import setup_logging


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
