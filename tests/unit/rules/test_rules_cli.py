"""``marketbot match`` and ``marketbot explain`` as a user runs them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.rules import story_json, story_line
from bot.domain.rules import SymbolDirectory, compile_matcher

CONFIG = """\
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
    exclude: [podcast]
  - name: chips-policy
    query: '($NVDA OR $AMD) AND ("export control" OR sanction* OR "entity list") AND NOT opinion'
aliases:
  BABA: [Alibaba]
"""

SEED = Path(__file__).with_name("premarket-cloud-restrictions.txt")


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("MARKETBOT_CONFIG", raising=False)
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def stories(*items: dict[str, object]) -> str:
    return "".join(json.dumps(i) + "\n" for i in items)


def seed_line() -> dict[str, object]:
    title, _, summary = SEED.read_text(encoding="utf-8").partition("\n")
    return {
        "id": "seed",
        "title": title,
        "summary": f"<p>{summary}</p>",
        "link": "https://x/1",
        "published": None,
    }


def test_match_writes_one_line_per_story(cfg: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        stories(
            seed_line(),
            {"id": 2, "title": "Oil slips as OPEC meets", "summary": ""},
            {"id": "3", "title": "Podcast: Amazon cloud outlook"},
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["match", "--config", str(cfg), "--input", str(source)])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert lines[0] == {
        "id": "seed",
        "tickers": ["AMZN", "BABA", "MSFT", "NVDA"],
        "watchlists": [
            {
                "name": "cloud-china",
                "tickers": ["AMZN", "MSFT", "BABA"],
                "terms": ["export control", "cloud"],
            },
            {"name": "chips-policy", "tickers": ["NVDA"], "terms": ["export control"]},
        ],
    }
    assert lines[1] == {"id": 2, "tickers": [], "watchlists": []}
    assert lines[2] == {"id": "3", "tickers": ["AMZN"], "watchlists": []}  # vetoed by "podcast"


def test_match_reads_stdin_when_input_is_dash_or_missing(cfg: Path) -> None:
    line = stories({"id": "a", "title": "Microsoft wins cloud deal"})
    for args in (["match", "-c", str(cfg)], ["match", "-c", str(cfg), "--input", "-"]):
        result = CliRunner().invoke(app, args, input=line)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["watchlists"][0]["name"] == "cloud-china"


def test_malformed_lines_are_reported_with_their_number_and_skipped(cfg: Path) -> None:
    text = (
        stories({"id": "1", "title": "Amazon cloud"})
        + "{not json\n"
        + "\n"
        + stories({"id": "4"}, [1, 2])  # type: ignore[arg-type]
        + stories({"id": "6", "title": "Nvidia sanctions"})
    )
    result = CliRunner().invoke(app, ["match", "-c", str(cfg)], input=text)
    assert result.exit_code == 1
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == ["1", "6"]
    assert "line 2: not valid JSON" in result.stderr
    assert 'line 4: "title" is missing or not a string; skipped' in result.stderr
    assert "line 5: expected a JSON object" in result.stderr
    assert "3 malformed lines skipped" in result.stderr


def test_match_with_a_broken_config_exits_2_naming_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("watchlists:\n  - name: w\n    query: 'cloud AND chips OR aim)'\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["match", "-c", str(bad)], input="")
    assert result.exit_code == 2
    assert "watchlists[0].query: unexpected ')' at 23" in result.stderr


def test_match_missing_input_file(cfg: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["match", "-c", str(cfg), "--input", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl: no such file" in result.stderr


def test_unknown_ticker_warning_goes_to_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bot.yaml"
    path.write_text("watchlists:\n  - name: w\n    tickers: [NVDAA]\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["match", "-c", str(path)], input=stories({"id": 1, "title": "$NVDAA up"})
    )
    assert result.exit_code == 0
    assert (
        "warning: watchlists[0].tickers[0]: NVDAA is not in the symbol directory; did you mean NVDA"
        in result.stderr
    )
    assert json.loads(result.stdout)["watchlists"][0]["name"] == "w"


def test_explain_a_match(cfg: Path) -> None:
    result = CliRunner().invoke(
        app, ["explain", "cloud-china", "Microsoft wins $10 billion cloud-computing deal", "-c", str(cfg)]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        "cloud-china: MATCH - found ticker MSFT and keyword cloud",
        '  rule: match: any - a ticker (AMZN, MSFT, BABA) OR a keyword ("export control", cloud); excluded by podcast',
        "  ticker $AMZN: not found",
        '  ticker $MSFT: found in title as "Microsoft"',
    ]
    assert '  keyword cloud: found in title as "cloud"' in result.stdout


def test_explain_no_match_exits_1_and_says_why(cfg: Path) -> None:
    result = CliRunner().invoke(
        app, ["explain", "chips-policy", "Opinion: Nvidia export controls are overdone", "-c", str(cfg)]
    )
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "chips-policy: no match - the query does not hold: it contains NOT term opinion"
    )
    assert '  term $NVDA: found in title as "Nvidia"' in result.stdout


def test_explain_with_exclude_says_it_vetoed(cfg: Path) -> None:
    result = CliRunner().invoke(app, ["explain", "cloud-china", "Podcast: Amazon's cloud", "-c", str(cfg)])
    assert result.exit_code == 1
    assert result.stdout.startswith("cloud-china: no match - exclude term podcast vetoes it")


def test_explain_text_from_stdin_with_summary_lines(cfg: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["explain", "cloud-china", "-", "-c", str(cfg)],
        input="Markets wrap\nAmazon gains after the bell\n",
    )
    assert result.exit_code == 0
    assert '  ticker $AMZN: found in summary as "Amazon"' in result.stdout


def test_explain_unknown_watchlist(cfg: Path) -> None:
    result = CliRunner().invoke(app, ["explain", "cloud-chna", "text", "-c", str(cfg)])
    assert result.exit_code == 2
    assert "unknown watchlist 'cloud-chna'; known watchlists: chips-policy, cloud-china" in result.stderr


def test_real_process_pipes_stories_through(cfg: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    env.pop("MARKETBOT_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "match", "--config", str(cfg)],
        input=stories(seed_line()),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["tickers"] == ["AMZN", "BABA", "MSFT", "NVDA"]
    assert [w["name"] for w in out["watchlists"]] == ["cloud-china", "chips-policy"]


def test_story_json_is_the_json_of_every_match(directory: SymbolDirectory) -> None:
    """The CLI writes its lines directly (no Match objects); they must be exactly
    ``json.dumps`` of the Matches, here on the benchmark's generated watchlists and stories."""
    from bench.bench_rules import Scenario, ticker_pool

    for name in ("niche", "popular"):
        scenario = Scenario(name, ticker_pool(directory), random.Random(3))
        watchlists = [replace(w, name=f"{w.name} “q”\\") for w in scenario.watchlists(300)]
        matcher = compile_matcher(watchlists, directory)
        for i, (title, summary) in enumerate(scenario.stories(300)):
            story: dict[str, Any] = {"id": [str(i), i, None][i % 3], "title": title, "summary": summary}
            assert story_json(matcher, story) == json.dumps(story_line(matcher, story), ensure_ascii=False)
            result = matcher.match(title, summary)
            assert result.summaries() == [(m.watchlist, m.tickers, m.terms) for m in result.matches]
