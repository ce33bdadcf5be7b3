"""SQLite is the one-process default: a second bot process on the same file is refused, clearly."""

from __future__ import annotations

import re

import pytest

from bot.domain.errors import StoreError
from bot.store.db import one_process, sqlite_path
from tests.e2e.conftest import Bot, BotProcess, running

pytestmark = pytest.mark.e2e


async def test_a_second_bot_on_the_same_sqlite_file_is_refused_and_a_killed_one_leaves_no_lock(
    bot_env: Bot,
) -> None:
    bot_env.write_config({"feeds": [], "web": {"enabled": False}})
    async with running(bot_env.env, bot_env.workdir) as bot:
        await bot.wait_log(r"marketbot .* running")
        assert bot.proc is not None
        second = await bot_env.run("run")
        assert second.code != 0
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, second.stderr  # one line, no traceback
        assert re.search(
            rf"in use by another marketbot process \(pid {bot.proc.pid}, `marketbot run` since ", lines[0]
        )
        assert "PostgreSQL" in lines[0]
        once = await bot_env.run("poll", "--once")
        assert once.code != 0 and "in use by another marketbot process" in once.stderr
        # short commands may run beside the bot
        assert (await bot_env.run("subscriptions")).code == 0

    # SIGKILL: the kernel drops the lock with the process, nothing stale is left behind
    killed = BotProcess(bot_env.env, bot_env.workdir)
    await killed.start()
    await killed.wait_log(r"marketbot .* running")
    assert killed.proc is not None
    killed.proc.kill()
    assert await killed.stop() != 0
    once = await bot_env.run("poll", "--once")
    assert once.code == 0, once.stderr


def test_the_lock_is_per_file_and_only_for_sqlite_files(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    with one_process(url, "run"):
        with (
            pytest.raises(
                StoreError, match=r"a\.db is in use by another marketbot process \(pid \d+, `marketbot run`"
            ),
            one_process(url, "poll --once"),
        ):
            pass
        with one_process(f"sqlite+aiosqlite:///{tmp_path}/b.db", "run"):
            pass
        with one_process("sqlite+aiosqlite:///:memory:", "run"), one_process("sqlite+aiosqlite://", "run"):
            pass
        with one_process("postgresql+asyncpg://u@127.0.0.1/x", "run"):
            pass
    with one_process(url, "poll --once"):  # released on exit
        pass
    assert sqlite_path("postgresql+asyncpg://u@h/x") is None
    assert str(sqlite_path("sqlite+aiosqlite:///~/x.db")).endswith("/x.db")
