"""End-to-end helpers: run the real ``marketbot`` command as a subprocess against loopback fakes."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

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
