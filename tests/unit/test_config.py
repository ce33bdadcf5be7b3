"""Configuration: every broken-config case gets an error naming file, line, key path and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config, load_env, parse_config
from bot.domain.errors import ConfigError
from bot.domain.models import ChannelRef, TradingSession

GOOD = """
timezone: America/New_York
feeds:
  - name: "Federal Register: BIS rules"
    url: https://www.federalregister.gov/api/v1/documents.rss
    interval: 300
ticker_feeds: ["https://feeds.finance.yahoo.com/rss/2.0/headline?s={ticker}&region=US&lang=en-US"]
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
aliases: {BABA: [Alibaba]}
subscriptions:
  - watchlist: cloud-china
    channel: console
  - watchlist: cloud-china
    channel: slack:C0123ABCD
    quiet_hours: 22:00-06:00
    sessions: [pre-market]
  - watchlist: cloud-china
    channel: discord:112233445566778899
    briefing: premarket
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="bot.yaml")
    return str(info.value)


def test_the_documented_shape_loads() -> None:
    cfg = parse_config(GOOD)
    assert cfg.feeds[0].interval == 300
    assert cfg.watchlists[0].to_domain().tickers == ("AMZN", "MSFT", "BABA")
    assert cfg.aliases == {"BABA": ["Alibaba"]}
    slack = cfg.subscriptions[1]
    assert slack.channel_ref == ChannelRef("slack", "C0123ABCD")
    assert str(slack.options().quiet_hours) == "22:00-06:00"
    assert slack.options().sessions == (TradingSession.PRE,)
    assert cfg.subscriptions[2].options().briefing == "premarket"


def test_shipped_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "config" / "bot.yaml")
    assert cfg.watchlists and cfg.feeds and cfg.subscriptions


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found.*--config PATH.*MARKETBOT_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_points_at_the_line() -> None:
    msg = error_of("watchlists:\n  - name: a\n    keywords: [x\n")
    assert msg.startswith("bot.yaml:") and "invalid YAML" in msg


def test_unknown_keys_get_a_did_you_mean() -> None:
    msg = error_of("watchlist:\n  - name: a\n")
    assert "bot.yaml:1: watchlist: unknown key 'watchlist'; did you mean 'watchlists'?" in msg
    msg = error_of(GOOD.replace("    interval: 300", "    intervall: 300"))
    assert "feeds[0].intervall: unknown key 'intervall'; did you mean 'interval'?" in msg


def test_wrong_types_name_the_key_path() -> None:
    msg = error_of(GOOD.replace("    interval: 300", "    interval: soon"))
    assert "bot.yaml:6: feeds[0].interval:" in msg and "soon" in msg
    msg = error_of(GOOD.replace('keywords: ["export control", cloud]', 'keywords: ["export control", "!!"]'))
    assert "watchlists[0].keywords[1]: '!!' is empty or only punctuation" in msg


def test_duplicate_watchlists_and_unknown_subscription_targets() -> None:
    dup = GOOD.replace("aliases:", "  - name: Cloud-China\n    keywords: [x]\naliases:")
    assert "watchlists[1].name: duplicate watchlist name 'Cloud-China'" in error_of(dup)
    unknown = GOOD.replace(
        "  - watchlist: cloud-china\n    channel: console", "  - watchlist: cloud-chna\n    channel: console"
    )
    msg = error_of(unknown)
    assert "subscriptions[0].watchlist: unknown watchlist 'cloud-chna'; did you mean 'cloud-china'?" in msg


def test_bad_values_are_explained() -> None:
    assert "must be an http:// or https:// URL" in error_of(
        GOOD.replace("https://www.federalregister", "ftp://www.federalregister")
    )
    assert "minimum" in error_of(
        GOOD.replace("interval: 300", "interval: 5")
    ) or "greater than or equal to 30" in error_of(GOOD.replace("interval: 300", "interval: 5"))
    assert "Slack channel id" in error_of(GOOD.replace("slack:C0123ABCD", "slack:general"))
    assert "HH:MM-HH:MM" in error_of(GOOD.replace("22:00-06:00", "late"))
    assert "unknown time zone" in error_of(GOOD.replace("America/New_York", "Mars/Olympus"))
    assert "{ticker}" in error_of(GOOD.replace("s={ticker}", "s=AMZN"))
    assert "'query' replaces tickers" in error_of(
        GOOD.replace('keywords: ["export control", cloud]', "query: cloud")
    )


def test_env_reads_dotenv_without_overriding_the_environment(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SLACK_BOT_TOKEN=xoxb-from-file\nMARKETBOT_DATABASE_URL=sqlite+aiosqlite:///x.db\n")
    env = load_env({"MARKETBOT_DATABASE_URL": "postgresql+asyncpg://db/x"}, dotenv=dotenv)
    assert env.slack_bot_token is not None and env.slack_bot_token.get_secret_value() == "xoxb-from-file"
    assert env.database_url == "postgresql+asyncpg://db/x"
    assert "xoxb" not in repr(env)  # secrets never print
    assert env.platforms == ["slack"]
    assert load_env({}, dotenv=None).platforms == ["console"]


def test_env_errors_say_what_to_write() -> None:
    with pytest.raises(ConfigError, match="DISCORD_GUILD_IDS"):
        load_env({"DISCORD_GUILD_IDS": "abc"}, dotenv=None)
    with pytest.raises(ConfigError, match="MARKETBOT_NOW"):
        load_env({"MARKETBOT_NOW": "yesterday"}, dotenv=None)
    assert load_env({"DISCORD_GUILD_IDS": "1, 2"}, dotenv=None).discord_guild_ids == (1, 2)


def test_share_classes_are_spelt_as_the_bot_stores_them() -> None:
    """``BRK.B`` in the file and ``/watch add BRK.B`` in chat are one symbol: ``BRK-B``."""
    cfg = parse_config(
        """
watchlists:
  - name: holdings
    tickers: [BRK.B, "$bf/b", brk-a, SHOP.TO]
aliases: {BRK.B: [Berkshire]}
"""
    )
    assert cfg.watchlists[0].to_domain().tickers == ("BRK-B", "BF-B", "BRK-A", "SHOP.TO")
    assert cfg.aliases == {"BRK-B": ["Berkshire"]}


def test_anchors_merge_keys_and_quoted_scalars_read_as_yaml_defines_them() -> None:
    cfg = parse_config(
        """
timezone: Europe/London
watchlists:
  - &first {name: a, tickers: [NVDA], keywords: [recall, "export control"], exclude: [podcast]}
  - name: b
    tickers: [AMD, 'ON']
    keywords: ['2024', cloud]
    match: all
  - {<<: *first, name: c}
"""
    )
    a, b, c = cfg.domain_watchlists()
    assert (a.tickers, a.keywords, a.exclude) == (("NVDA",), ("recall", "export control"), ("podcast",))
    assert (b.tickers, b.keywords, b.match) == (("AMD", "ON"), ("2024", "cloud"), "all")
    assert (c.name, c.tickers, c.keywords) == ("c", ("NVDA",), ("recall", "export control"))


def test_an_error_in_a_large_config_still_names_its_line() -> None:
    body = "".join(f"  - {{name: w{i}, keywords: [word{i}]}}\n" for i in range(2000))
    with pytest.raises(ConfigError) as err:
        parse_config(
            f"watchlists:\n{body}  - {{name: bad, keywords: [x], match: sometimes}}\n", source="big.yaml"
        )
    assert "big.yaml:2002: watchlists[2000].match" in str(err.value)


# The block subset read without PyYAML's composer must give exactly what PyYAML's safe loader
# gives (libyaml's, which the config was read with before); whatever leaves the subset (or is not
# YAML at all) goes to PyYAML, errors included.
YAML_CASES = [
    GOOD,
    "a: yes\nb: on\nc: ~\nd: null\ne: 1_000\nf: 0x1F\ng: 1e3\nh: .inf\ni: -.5\nj: +7\nk: 0o17\n",
    "a: 2024-01-01\nb: 2024-01-01 10:00:00\nc: 2024-01-01T10:00:00Z\nd: 10:30\ne: 22:00-06:00\n",
    "a: 'it''s'\nb: \"x # y\"\nc: x # comment\nd: x#y\ne: 'ü'\nf: café\ng: \"\"\nh: ''\n",
    "a: [a, 'b', \"c d\"]  # c\nb: []\nc: {}\nd: [ ]\ne: [1, 2.5, true, null, ~, 2024-01-01]\n",
    "a: [3, 5, 10]     # percent; [] turns them off\nb: [x]#no\n",
    "a:\n- 1\n- 2\nb: 3\n",
    "a:\n  - b: 1\n    c: 2\n  -   d: 3\n  - 4\n  -\n  - - 5\n",
    "- a\n- b\n",
    "a:\nb: 1\nc:\n  # c\n  d: 1\n\n\ne: [x, 'y ''z''', \"w\"]\n",
    "   a: 1\n   b: 2\n",
    "a: 1\na: 2\n",
    "a: b: c\n",
    "a: |\n  x\n  y\n",
    "a: >\n x\n",
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
    "a: !!str 1\n",
    "a: 'multi\n  line'\n",
    "a: plain\n  continued\n",
    "a: [a,\n b]\n",
    "? a\n: b\n",
    "a: {b: 1}\n",
    "on: 1\n",
    "1: a\n",
    "null: a\n",
    'a: "esc\\n"\n',
    "a:\tb\n",
    "a: x\r\nb: y\r\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "a: -\n",
    "a: - b\n",
    "a: -1\n",
    "a: :x\n",
    "a: x:\n",
    "a: [x:]\n",
    "a: [-]\n",
    "a: [a, , b]\n",
    "a: [a,]\n",
    "a: [a, [b]]\n",
    "a: [a] b\n",
    "key with space: 1\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n  b: 1\n    c: 2\n",
    "a: 'unterminated\n",
    'a: "x" y\n',
    "a: =\n",
    "a: <<\n",
    "a: %x\n",
    "a: @x\n",
    "a: `x\n",
    "a: x \n",
    "hello\n",
    "- a\nb: 1\n",
    "a: 1\n- b\n",
    "",
    "# only a comment\n",
    "a: *undefined\n",
    'a: ["x\\"y"]\n',
    "\ufeffa: 1\n",
]


@pytest.mark.parametrize("text", YAML_CASES)
def test_the_fast_yaml_subset_reads_as_pyyaml_does(text: str) -> None:
    import yaml

    from bot.config import _load_yaml

    try:
        expected = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        with pytest.raises(yaml.YAMLError) as info:
            _load_yaml(text)
        assert str(info.value) == str(exc)
        return
    got = _load_yaml(text)
    assert got == expected
    assert repr(got) == repr(expected)  # types too: 1 and True, 1.0 and 1


def test_configs_as_written_take_the_fast_path() -> None:
    """The shipped config and the benches' generated ones stay inside the subset."""
    import random
    import tempfile

    from bench.bench_config import write_config as bench_config
    from bench.bench_startup import write_config as startup_config
    from bot.config import _UNSUPPORTED, _fast_yaml

    root = Path(__file__).parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.yaml", Path(tmp) / "b.yaml"
        bench_config(a, 200, random.Random(3))
        startup_config(b, [f"http://127.0.0.1:9/feed/{i}" for i in range(20)], 200)
        texts = [(root / "config" / "bot.yaml").read_text(), a.read_text(), b.read_text()]
    import yaml

    for text in texts:
        fast = _fast_yaml(text)
        assert fast is not _UNSUPPORTED
        assert fast == yaml.safe_load(text)
