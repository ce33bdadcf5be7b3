"""The command spec is the one list of slash commands: everything derived from it agrees with it.

The Slack manifest in the repo, the Discord tree that real discord.py syncs to the fake Discord,
Discord's Manage Channels check, the command text Discord's typed options turn into, /watch help
and the grammar, and the Slack listeners are each checked against ``bot.commands.spec``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.chat.discord_bot import DiscordAdapter
from bot.chat.slack_app import SlackAdapter
from bot.cli import app as cli_app
from bot.commands import grammar
from bot.commands import messages as msg
from bot.commands.service import help_reply
from bot.commands.spec import (
    COMMANDS,
    FEED,
    WATCH,
    WATCHLIST_NAME_MAX,
    Arg,
    CommandSpec,
    slack_manifest_commands,
)
from bot.config import WATCHLIST_NAME
from bot.domain.models import CommandContext, Reply
from bot.ports import CommandName, CompleteKind
from tests.fakes.discord import DiscordFake, World, render_markdown
from tests.fakes.slack import FakeSlack

MANIFEST = Path(__file__).resolve().parents[2] / "config" / "slack-app-manifest.yaml"
# a value each required argument accepts
SAMPLE = {
    "name": "cloud-china",
    "items": "AMZN",
    "query": "AMZN",
    "duration": "2h",
    "tickers": "AMZN",
    "ticker": "AMZN",
    "url": "https://example.com/markets.rss",
}
GROUPS = [c for c in COMMANDS if c.subcommands]
OPTION_TYPE = {"text": 3, "int": 4, "bool": 5}


class Recorder:
    """A CommandHandler that answers what it was asked: the text the platform turned the call into."""

    def __init__(self) -> None:
        self.calls: list[tuple[CommandName, str]] = []

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        self.calls.append((command, text))
        return Reply(text=f"ran /{command} {text}")

    async def complete(self, ctx: CommandContext, kind: CompleteKind, prefix: str) -> list[str]:
        return [f"{kind}:{prefix}"]


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as server:
        yield server


@pytest.fixture
def world(fake: DiscordFake) -> World:
    return fake.world()


# ---------------------------------------------------------------- Slack


def test_the_manifest_in_the_repo_lists_exactly_the_spec_commands() -> None:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    expected = slack_manifest_commands()
    assert data["features"]["slash_commands"] == expected, (
        "config/slack-app-manifest.yaml differs from bot.commands.spec: run `marketbot slack manifest` "
        "to write its features.slash_commands, which should read:\n"
        + yaml.safe_dump(expected, sort_keys=False)
    )


def test_marketbot_slack_manifest_writes_the_spec_commands_into_the_manifest(tmp_path: Path) -> None:
    stale = MANIFEST.read_text(encoding="utf-8").replace("command: /news", "command: /headlines")
    path = tmp_path / "manifest.yaml"
    path.write_text(stale, encoding="utf-8")
    runner = CliRunner()

    checked = runner.invoke(cli_app, ["slack", "manifest", str(path), "--check"])
    assert checked.exit_code == 1, checked.output
    assert path.read_text(encoding="utf-8") == stale

    written = runner.invoke(cli_app, ["slack", "manifest", str(path)])
    assert written.exit_code == 0, written.output
    assert path.read_text(encoding="utf-8") == MANIFEST.read_text(encoding="utf-8")  # comments kept too
    assert runner.invoke(cli_app, ["slack", "manifest", str(MANIFEST), "--check"]).exit_code == 0

    path.write_text("features: {}\n", encoding="utf-8")
    refused = runner.invoke(cli_app, ["slack", "manifest", str(path)])
    assert refused.exit_code == 2
    assert "no 'slash_commands:' line under features:" in refused.output


async def test_every_spec_command_reaches_the_handler_on_slack() -> None:
    recorder = Recorder()
    async with FakeSlack() as fake:
        adapter = SlackAdapter(
            bot_token=fake.bot_token,
            app_token=fake.app_token,
            api_url=fake.api_url,
            commands=recorder,
            ping_interval=1.0,
        )
        async with adapter:
            for spec in COMMANDS:
                result = await fake.slash_command(f"/{spec.name}", "AMZN")
                assert result.user_error is None
                responses = await result.wait_responses(1)
                assert f"ran /{spec.name} AMZN" in responses[-1].visible
    assert recorder.calls == [(spec.name, "AMZN") for spec in COMMANDS]


# ---------------------------------------------------------------- help and grammar


def test_help_lists_every_subcommand_and_explains_every_topic() -> None:
    forms = [item.text for item in help_reply().items]
    for sub in WATCH.subcommands:
        assert any(f == f"/watch {sub.name}" or f.startswith(f"/watch {sub.name} ") for f in forms), sub.name
    topic = next(a for a in WATCH.sub("help").args if a.name == "topic")  # type: ignore[union-attr]
    for _label, value in topic.choices:
        reply = help_reply(value)
        assert reply.items and not reply.error, value
    assert tuple(s.name for s in WATCH.subcommands) == msg.WATCH_SUBCOMMANDS


def test_feed_help_lists_every_subcommand_and_explains_every_topic() -> None:
    assert tuple(s.name for s in FEED.subcommands) == msg.FEED_SUBCOMMANDS
    forms = [item.text for item in help_reply("feed").items]
    for sub in FEED.subcommands:
        assert any(f == f"/feed {sub.name}" or f.startswith(f"/feed {sub.name} ") for f in forms), sub.name
    topic = next(a for a in FEED.sub("help").args if a.name == "topic")  # type: ignore[union-attr]
    for _label, value in topic.choices:
        parsed = grammar.parse("feed", f"help {value}")
        assert parsed == grammar.FeedHelpCmd(value)
    assert grammar.parse("watch", "help feed") == grammar.FeedHelpCmd()


@pytest.mark.parametrize("spec", GROUPS, ids=[c.name for c in GROUPS])
def test_the_grammar_knows_every_subcommand(spec: CommandSpec) -> None:
    for sub in spec.subcommands:
        text = " ".join([sub.name, *(SAMPLE[a.name] for a in sub.args if a.required)])
        grammar.parse(spec.name, text)  # raises UsageError for a subcommand it does not know


def test_discord_takes_exactly_the_watchlist_names_the_config_allows() -> None:
    assert WATCHLIST_NAME.match("n" * WATCHLIST_NAME_MAX)
    assert not WATCHLIST_NAME.match("n" * (WATCHLIST_NAME_MAX + 1))
    names = [a for s in WATCH.subcommands for a in s.args if a.name == "name"]
    assert names and all(a.high == WATCHLIST_NAME_MAX for a in names)


# ---------------------------------------------------------------- Discord


def _check_options(options: list[dict[str, Any]], args: tuple[Arg, ...], where: str) -> None:
    by_name = {o["name"]: o for o in options}
    assert sorted(by_name) == sorted(a.name for a in args), where
    for arg in args:
        o = by_name[arg.name]
        at = f"{where} {arg.name}"
        assert o["description"] == arg.description, at
        assert o["type"] == OPTION_TYPE[arg.kind], at
        assert bool(o.get("required")) == arg.required, at
        assert bool(o.get("autocomplete")) == (arg.complete is not None), at
        assert [c["value"] for c in o.get("choices") or []] == [v for _n, v in arg.choices], at
        low, high = ("min_length", "max_length") if arg.kind == "text" else ("min_value", "max_value")
        assert o.get(low) == arg.low and o.get(high) == arg.high, at


def _check_command(synced: dict[str, Any], spec: CommandSpec) -> None:
    assert synced["description"] == spec.description
    # Manage Server (32) for admins' commands, Manage Channels (16) for managers'
    expected = "32" if spec.admins_only else "16" if spec.managers_only else None
    assert synced["default_member_permissions"] == expected
    assert synced["dm_permission"] is (expected is None)
    if not spec.subcommands:
        _check_options(synced.get("options", []), spec.args, f"/{spec.name}")
        return
    subs = synced["options"]
    assert [o["name"] for o in subs] == [s.name for s in spec.subcommands]
    for o, sub in zip(subs, spec.subcommands, strict=True):
        assert o["type"] == 1 and o["description"] == sub.description
        _check_options(o.get("options", []), sub.args, f"/{spec.name} {sub.name}")


@pytest.mark.parametrize("guilds", [False, True], ids=["global", "guild"])
async def test_the_discord_tree_synced_to_the_fake_equals_the_spec(
    fake: DiscordFake, world: World, guilds: bool
) -> None:
    async with DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        guild_ids=[world.guild.id] if guilds else [],
    ):
        pass
    synced = fake.commands(world.guild.id if guilds else None)
    assert [c["name"] for c in synced] == [spec.name for spec in COMMANDS]
    for command, spec in zip(synced, COMMANDS, strict=True):
        _check_command(command, spec)


async def test_discord_checks_manage_channels_exactly_where_the_spec_says(
    fake: DiscordFake, world: World
) -> None:
    recorder = Recorder()
    async with DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        commands=recorder,
        guild_ids=[world.guild.id],
    ):
        for sub in WATCH.subcommands:
            options = {a.name: SAMPLE[a.name] for a in sub.args if a.required}
            ix = await fake.slash(
                world.member, world.channel, f"watch {sub.name}", bypass_permissions=True, **options
            )
            reply = await ix.reply()
            shown = (
                render_markdown(reply.embeds[0]["description"]).text if reply.embeds else reply.visible_text()
            )
            if sub.manage:
                assert shown == msg.NEEDS_MANAGE, sub.name
            else:
                assert shown.startswith(f"ran /watch {sub.name}"), (sub.name, shown)
    assert [text.split()[0] for _c, text in recorder.calls] == [
        s.name for s in WATCH.subcommands if not s.manage
    ]


async def test_discord_options_become_the_text_the_grammar_reads(fake: DiscordFake, world: World) -> None:
    recorder = Recorder()
    async with DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        commands=recorder,
        guild_ids=[world.guild.id],
    ):
        calls = [
            ("news", {"ticker": "AMZN", "count": 7}, "AMZN 7"),
            ("watch mute", {"duration": "2h", "name": "cloud-china"}, "mute 2h cloud-china"),
            (
                "watch subscribe",
                {"name": "cloud-china", "max": 0, "threads": True, "min-move": "2%", "briefing": "premarket"},
                "subscribe cloud-china max off min-move 2% threads on briefing premarket",
            ),
            ("watch options", {"name": "cloud-china", "max": 12}, "options cloud-china max 12/h"),
            ("watch help", {}, "help"),
            ("watch help", {"topic": "feed"}, "help feed"),
            (
                "feed add",
                {"url": "https://example.com/rss", "every": "10m", "name": "Example Markets"},
                "add https://example.com/rss every 10m name Example Markets",
            ),
            ("feed add", {"url": "https://example.com/rss"}, "add https://example.com/rss"),
            ("feed remove", {"name": "Example Markets"}, "remove Example Markets"),
            ("feed help", {"topic": "remove"}, "help remove"),
        ]
        for command, options, _text in calls:
            # /feed is Manage Server's by default; the handler (here a recorder) checks who asks
            ix = await fake.slash(
                world.moderator,
                world.channel,
                command,
                bypass_permissions=command.startswith("feed"),
                **options,
            )
            await ix.reply()
    assert [text for _c, text in recorder.calls] == [text for _c, _o, text in calls]
