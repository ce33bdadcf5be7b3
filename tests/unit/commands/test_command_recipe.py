"""The recipe of docs/architecture.md, done in a test: a new slash command is one spec entry plus
one handler, and nothing else changes.

``/source NAME [N]`` (a command of its own) and ``/digest now|help`` (a command with
subcommands) are declared here only; the Discord tree, the Slack manifest, the usage and help
texts, the grammar and the dispatch of ``CommandService`` all pick them up from the spec.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import discord
import pytest
import yaml

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.discord_bot.commands import build_tree
from bot.commands import CommandService
from bot.commands.grammar import Args, Call, UsageError, parse_call
from bot.commands.registry import handles
from bot.commands.service import help_reply
from bot.commands.spec import (
    COMMANDS,
    Arg,
    CommandSpec,
    Sub,
    slack_manifest,
    slack_manifest_commands,
    usage_table,
)
from bot.config import BotConfig
from bot.domain.models import CommandContext, Reply
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.market.memory import MemoryCharts, MemoryQuotes
from bot.store import SqlStore

from .conftest import slack_ctx

# ---------------------------------------------------------------- the one spec entry per command

SOURCE = CommandSpec(
    name="source",
    description="The latest stories of one outlet",  # Discord, at most 100 characters
    summary="The latest stories of one outlet",  # the Slack manifest
    usage_hint="NAME [N]",
    args=(
        Arg("name", "The outlet", low=1, high=64),
        Arg("count", "How many", kind="int", required=False, low=1, high=20, metavar="N"),
    ),
    help="the latest N stories of one outlet. Example: /source Reuters 5",
    slow=True,
)
DIGEST = CommandSpec(
    name="digest",
    description="This channel's digest",
    summary="This channel's digest",
    usage_hint="now | help",
    subcommands=(
        Sub(
            "now",
            "Post the digest now",
            (Arg("hours", "Of the last hours", kind="int", required=False, high=48),),
        ),
        Sub(
            "help",
            "How to use /digest",
            (Arg("topic", "A subcommand to explain", required=False, metavar="COMMAND"),),
            private=True,
        ),
    ),
)
WITH_NEW = (*COMMANDS, SOURCE, DIGEST)


# ---------------------------------------------------------------- the one handler per command


class NewHandlers:
    @handles("source")
    async def source(self, ctx: CommandContext, args: Args) -> Reply:
        return Reply(text=f"{args.get('count', 5)} stories from {args['name']}")

    @handles("digest", "now")
    def digest_now(self, ctx: CommandContext, args: Args) -> Reply:
        return Reply(text=f"digest of the last {args.get('hours', 24)} hours")


@pytest.fixture
def build_service(
    sqlite_store: SqlStore,
    catalog: Catalog,
    quotes: MemoryQuotes,
    charts: MemoryCharts,
    directory: SymbolDirectory,
    config: BotConfig,
    clock: ManualClock,
) -> Callable[..., CommandService]:
    """``CommandService`` over the test's store and sources; the spec and handlers are the caller's."""
    return functools.partial(
        CommandService, sqlite_store, catalog, quotes, charts, directory, command_options(config), clock
    )


@pytest.fixture
def service(build_service: Callable[..., CommandService]) -> CommandService:
    return build_service(commands=WITH_NEW, handlers=(NewHandlers(),))


# ---------------------------------------------------------------- what is derived from them


def discord_tree(said: list[tuple[str, str]] | None = None) -> Any:
    """The Discord tree built from the spec with the new commands; what it runs goes to ``said``."""

    async def run(interaction: Any, command: str, text: str) -> None:
        if said is not None:
            said.append((command, text))

    async def complete(interaction: Any, kind: str, prefix: str) -> list[str]:
        return []

    async def answer_error(interaction: Any, reply: Reply) -> None: ...

    return build_tree(
        discord.Client(intents=discord.Intents.none()),
        run=run,
        complete=complete,  # type: ignore[arg-type]
        answer_error=answer_error,
        commands=WITH_NEW,
    )


def test_discord_registers_the_new_commands_with_their_typed_options() -> None:
    tree = discord_tree()
    source = tree.get_command("source")
    assert isinstance(source, discord.app_commands.Command)
    assert [(p.name, p.required) for p in source.parameters] == [("name", True), ("count", False)]
    digest = tree.get_command("digest")
    assert isinstance(digest, discord.app_commands.Group)
    assert [c.name for c in digest.commands] == ["now", "help"]


async def test_discord_options_become_the_text_the_grammar_reads_and_the_handler_answers(
    service: CommandService,
) -> None:
    said: list[tuple[str, str]] = []
    source = discord_tree(said).get_command("source")
    assert isinstance(source, discord.app_commands.Command)
    await source.callback(None, name="Reuters", count=7)  # type: ignore[call-arg]
    assert said == [("source", "Reuters 7")]
    reply = await service.handle(slack_ctx(), *said[0])
    assert reply.text == "7 stories from Reuters"


def test_the_slack_manifest_lists_the_new_commands() -> None:
    entries = slack_manifest_commands(commands=WITH_NEW)
    assert entries[-2:] == [
        {
            "command": "/source",
            "description": "The latest stories of one outlet",
            "usage_hint": "NAME [N]",
            "should_escape": False,
        },
        {
            "command": "/digest",
            "description": "This channel's digest",
            "usage_hint": "now | help",
            "should_escape": False,
        },
    ]
    text = "features:\n  slash_commands:\n    - command: /old\noauth_config: {}\n"
    written = yaml.safe_load(slack_manifest(text, commands=WITH_NEW))
    assert written["features"]["slash_commands"] == entries
    assert written["oauth_config"] == {}


def test_usage_and_help_are_derived_from_the_spec() -> None:
    table = usage_table(WITH_NEW)
    assert table["source"] == (
        "/source NAME [N]",
        "the latest N stories of one outlet. Example: /source Reuters 5",
    )
    assert table["digest now"] == ("/digest now [HOURS]", "Post the digest now")
    reply = help_reply("source", WITH_NEW)
    assert [(i.text, i.detail) for i in reply.items] == [table["source"]]


def test_the_grammar_parses_the_new_commands_from_their_args() -> None:
    assert parse_call("source", "Reuters", WITH_NEW) == Call("source", "", Args(name="Reuters"))
    assert parse_call("source", "Reuters 12", WITH_NEW) == Call("source", "", Args(name="Reuters", count=12))
    assert parse_call("digest", "now 6", WITH_NEW) == Call("digest", "now", Args(hours=6))
    assert parse_call("digest", "", WITH_NEW) == Call("digest", "help", Args())
    with pytest.raises(UsageError, match=r"^/source NAME \[N\] needs a NAME\.$"):
        parse_call("source", "", WITH_NEW)
    with pytest.raises(UsageError, match=r"count is 'lots': write a whole number from 1 to 20\."):
        parse_call("source", "Reuters lots", WITH_NEW)
    with pytest.raises(UsageError, match=r"Unexpected 'more' after the command: it is /source NAME \[N\]\."):
        parse_call("source", "Reuters 3 more", WITH_NEW)
    with pytest.raises(UsageError, match=r"/digest has no command 'nwo'\. Did you mean /digest now\?"):
        parse_call("digest", "nwo", WITH_NEW)
    with pytest.raises(UsageError, match=r"use /quote, /news, /watch, /feed, /source or /digest\.$"):
        parse_call("sources", "", WITH_NEW)


@pytest.mark.parametrize(
    "values",
    [
        {"outlet": "Reuters"},
        {"outlet": "Reuters", "cap": 0, "loud": True, "tone": "calm"},
        {"outlet": "Reuters", "cap": 12, "loud": False},
        {"outlet": "Reuters", "tone": "loud"},
    ],
)
def test_what_discord_options_become_parses_back_to_the_same_values(values: dict[str, Any]) -> None:
    # a command with every kind of argument: Discord's typed values -> command text -> values
    alert = CommandSpec(
        name="alert",
        description="A test of every kind",
        summary="A test",
        usage_hint="OUTLET",
        args=(
            Arg("outlet", "An outlet", low=1, high=64),
            Arg(
                "cap",
                "At most",
                kind="int",
                required=False,
                low=0,
                high=60,
                named=True,
                suffix="/h",
                zero="off",
            ),
            Arg("loud", "Loudly", kind="bool", required=False, named=True),
            Arg("tone", "Tone", required=False, named=True, choices=(("calm", "calm"), ("loud", "loud"))),
        ),
    )
    text = alert.text(None, values)
    assert parse_call("alert", text, (*COMMANDS, alert)).args == values, text


async def test_the_service_dispatches_the_new_commands_to_their_handlers(service: CommandService) -> None:
    ctx = slack_ctx()
    assert (await service.handle(ctx, "source", "Reuters")).text == "5 stories from Reuters"
    assert (await service.handle(ctx, "digest", "now 6")).text == "digest of the last 6 hours"
    helped = await service.handle(ctx, "digest", "help")  # no handler of its own: derived from the spec
    assert [i.text for i in helped.items] == ["/digest now [HOURS]", "/digest help [COMMAND]"]
    wrong = await service.handle(ctx, "source", "")
    assert wrong.error and wrong.text == "/source NAME [N] needs a NAME."
    assert [(f.label, f.value) for f in wrong.fields] == [
        ("Usage", "/source NAME [N] - the latest N stories of one outlet. Example: /source Reuters 5")
    ]
    # marketbot's own commands are answered as before
    assert (await service.handle(ctx, "watch", "show nope")).error


def test_a_spec_entry_without_a_handler_stops_the_service(
    build_service: Callable[..., CommandService],
) -> None:
    with pytest.raises(TypeError, match=r"no handler for /source: mark one @handles\('source', ''\)"):
        build_service(commands=WITH_NEW)
    with pytest.raises(TypeError, match=r"a handler for /digest now, which the spec does not have"):
        build_service(commands=(*COMMANDS, SOURCE), handlers=(NewHandlers(),))
