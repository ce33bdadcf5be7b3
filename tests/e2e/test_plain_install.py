"""A plain ``pip install`` of the wheel (no extras) is a working Slack and Discord bot.

Builds the wheel from this checkout, installs it into a fresh virtualenv with the pinned
``constraints.txt`` (packages come from the package index, normally straight from pip's
cache), and runs the installed ``marketbot`` — from a directory without the source tree, so
nothing is imported from the checkout — against the loopback Slack, Discord, feed and Yahoo
fakes: one ``poll --once`` delivers a story to a Slack and a Discord channel. The optional parts
are missing and say so in one line, exit 2, no traceback: a PostgreSQL URL without asyncpg,
``fetch_articles`` without trafilatura.

Slow (a virtualenv and a full install): marked e2e. Skipped, saying why, when the package index
cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.fakes.discord import DiscordFake
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.slack import FakeSlack
from tests.fakes.yahoo import YahooFake

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
TITLE = "Amazon and Microsoft fall as US weighs cloud curbs for Chinese AI developers"
OFFLINE = (
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "No matching distribution",
)


class Frozen:
    def now(self) -> datetime:
        return NOW


def _pip(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1000,
    )


def _not_shipped(directory: str, names: list[str]) -> set[str]:
    """What the copy leaves out: local state and caches (the package's own data/ stays)."""
    out = {n for n in names if n == "__pycache__" or n.endswith((".pyc", "_cache"))}
    if Path(directory) == ROOT:
        out |= {n for n in names if n in (".venv", ".git", "data", "tests", "dist", "build")}
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` directory of a fresh virtualenv with only ``marketbot`` (the wheel) installed."""
    work = tmp_path_factory.mktemp("plain-install")
    source = work / "src"
    # a copy of the tracked sources: the build must not write into the checkout
    shutil.copytree(ROOT, source, ignore=_not_shipped)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    python = work / "venv" / "bin" / "python"
    wheel = _pip(python, "wheel", "--no-deps", "-w", str(work / "dist"), str(source), cwd=work)
    if wheel.returncode != 0:
        if any(s in wheel.stderr for s in OFFLINE):
            pytest.skip(f"the package index is not reachable to build the wheel: {wheel.stderr[-300:]}")
        raise AssertionError(f"building the wheel failed:\n{wheel.stdout}\n{wheel.stderr}")
    [built] = list((work / "dist").glob("marketbot-*.whl"))
    done = _pip(python, "install", "-c", str(ROOT / "constraints.txt"), str(built), cwd=work)
    if done.returncode != 0:
        if any(s in done.stderr for s in OFFLINE):
            pytest.skip(f"the package index is not reachable: {done.stderr[-300:]}")
        raise AssertionError(f"pip install of the wheel failed:\n{done.stdout}\n{done.stderr}")
    yield work / "venv" / "bin"


async def _marketbot(bin_dir: Path, cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(bin_dir / "marketbot"),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, out.decode(), err.decode()


def _env(tmp_path: Path, *, frozen: bool = True) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        MARKETBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'marketbot.db'}",
        MARKETBOT_CONFIG=str(tmp_path / "bot.yaml"),
        MPLCONFIGDIR=str(tmp_path / "mpl"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    if frozen:
        env["MARKETBOT_NOW"] = NOW.isoformat()
    return env


def test_the_extras_really_are_missing(installed: Path) -> None:
    python = installed / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the venv alone, not a checkout
    probe = "import importlib.util as u; print([m for m in ('asyncpg', 'trafilatura') if u.find_spec(m)])"
    out = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, cwd="/", env=env
    )
    assert out.stdout.strip() == "[]"
    where = subprocess.run(
        [str(python), "-c", "import bot, slack_bolt, discord; print(bot.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
        env=env,
    )
    assert "site-packages" in where.stdout  # the installed package, not the checkout


async def test_a_plain_install_delivers_to_slack_and_discord(installed: Path, tmp_path: Path) -> None:
    async with (
        FakeSlack() as slack,
        DiscordFake() as discord,
        FeedHost() as host,
        YahooFake(clock=Frozen()) as yahoo,
    ):
        slack.add_channel("C0ALERTS01", "markets")
        world = discord.world()
        url = host.serve("/wire.xml", rss([]), etag='"1"')
        config = {
            "feeds": [{"name": "Wire", "url": url, "interval": 60}],
            "watchlists": [{"name": "cloud-china", "tickers": ["AMZN", "MSFT"], "keywords": ["cloud"]}],
            "subscriptions": [
                {"watchlist": "cloud-china", "channel": "slack:C0ALERTS01"},
                {"watchlist": "cloud-china", "channel": f"discord:{world.channel.id}"},
            ],
            "web": {"enabled": False},
        }
        (tmp_path / "bot.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        env = _env(tmp_path) | {
            "MARKETBOT_YAHOO_URL": yahoo.url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "SLACK_API_URL": slack.api_url,
            "DISCORD_BOT_TOKEN": discord.token,
            "DISCORD_API_URL": discord.api_url,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
        }
        code, _out, err = await _marketbot(installed, tmp_path, env, "poll", "--once")
        assert code == 0, err
        story = entry(
            TITLE, "https://wire.example/cloud", published=datetime(2026, 11, 25, 13, 5, tzinfo=UTC)
        )
        host.update("/wire.xml", body=rss([story]), etag='"2"')
        code, _out, err = await _marketbot(installed, tmp_path, env, "poll", "--once")
        assert code == 0, err
        assert "2 alerts sent" in err and "Traceback" not in err
        assert any(TITLE in m.text for m in slack.messages("C0ALERTS01"))
        (posted,) = discord.messages(world.channel.id)
        assert TITLE in str(posted.payload)


async def test_postgres_without_its_extra_is_one_line_and_exit_2(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "bot.yaml").write_text("watchlists: []\n", encoding="utf-8")
    env = _env(tmp_path, frozen=False) | {
        "MARKETBOT_DATABASE_URL": "postgresql+asyncpg://marketbot:s3cret@127.0.0.1:9/marketbot"
    }
    for args in (["poll", "--once"], ["db", "upgrade"]):
        code, out, err = await _marketbot(installed, tmp_path, env, *args)
        assert code == 2, (args, err)
        assert "pip install 'marketbot[postgres]'" in err and "Traceback" not in err + out
        assert len(err.strip().splitlines()) == 1, err
        assert "s3cret" not in err


async def test_articles_without_their_extra_is_one_line_and_exit_2(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "bot.yaml").write_text(
        "ingest:\n  fetch_articles: true\nweb:\n  enabled: false\n", encoding="utf-8"
    )
    env = _env(tmp_path, frozen=False)
    code, out, err = await _marketbot(installed, tmp_path, env, "poll", "--once")
    assert code == 2, err
    assert "pip install 'marketbot[articles]'" in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err
