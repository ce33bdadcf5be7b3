"""End-to-end helpers: run the real ``marketbot`` command as a subprocess against loopback fakes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, object]]:
        import json

        return [json.loads(line) for line in self.stdout.splitlines() if line.strip().startswith("{")]


@dataclass
class Bot:
    """How to run ``marketbot`` in a scratch directory with its own config, database and env."""

    workdir: Path
    env: dict[str, str]

    @property
    def config_path(self) -> Path:
        return self.workdir / "bot.yaml"

    def write_config(self, config: dict[str, object]) -> Path:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return self.config_path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bot", *args]

    async def run(self, *args: str, timeout: float = 60) -> Completed:
        """Run ``python -m bot ARGS`` to completion (async, so loopback fakes in this loop keep serving)."""
        proc = await asyncio.create_subprocess_exec(
            *self.command(*args),
            cwd=self.workdir,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
            raise AssertionError(
                f"marketbot {' '.join(args)} did not finish in {timeout}s:\n{err.decode()}"
            ) from None
        return Completed(proc.returncode or 0, out.decode(), err.decode())

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """Start a long-running ``marketbot`` (e.g. ``run``); the caller stops it."""
        return await asyncio.create_subprocess_exec(
            *self.command(*args),
            cwd=self.workdir,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )


@pytest.fixture
def bot_env(tmp_path: Path) -> Bot:
    """A scratch directory and a clean environment: SQLite file, no tokens, no .env, port 0."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_")) and k not in ("PYTHONSTARTUP",)
    }
    env.update(
        PYTHONPATH=str(ROOT),
        MARKETBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'marketbot.db'}",
        MARKETBOT_CONFIG=str(tmp_path / "bot.yaml"),
        MARKETBOT_WEB_PORT="0",
        MPLCONFIGDIR=str(tmp_path / "mpl"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    return Bot(tmp_path, env)


class BotProcess:
    """``python -m bot run`` in a subprocess, its output collected line by line."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [asyncio.create_task(self._read(s)) for s in (self.proc.stdout, self.proc.stderr)]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip())
            self._changed.set()

    async def wait_log(self, pattern: str, *, timeout: float = 60) -> re.Match[str]:
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in self.lines:
                if m := regex.search(line):
                    return m
            self.alive()  # an early exit fails at once, with the output
            return None

        return await wait_until(
            found, what=f"a log line matching {pattern!r}", timeout=timeout, changed=self._changed
        )

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-300:])

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError("marketbot exited early:\n" + self.output)

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        return self.proc.returncode or 0


@contextlib.asynccontextmanager
async def running(env: dict[str, str], cwd: Path) -> AsyncIterator[BotProcess]:
    bot = BotProcess(env, cwd)
    await bot.start()
    try:
        yield bot
    except BaseException:
        print(bot.output)
        raise
    finally:
        code = await bot.stop()
        assert code == 0, bot.output
        assert "stopped cleanly" in bot.output
