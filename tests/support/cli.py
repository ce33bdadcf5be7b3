"""Running ``marketbot`` as a user does: ``python -m bot ARGS`` in a subprocess.

``cli_env`` is this process's environment without settings that would leak into the run (every
``MARKETBOT_*`` one by default) plus the test's own; ``marketbot`` runs it from a test's event
loop, ``marketbot_sync`` from a plain test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MARKETBOT = [sys.executable, "-m", "bot"]
TIMEOUT = 120.0  # a generous ceiling for one run on a loaded machine (never a timed assertion)


def cli_env(settings: dict[str, str], *, drop: tuple[str, ...] = ("MARKETBOT_",)) -> dict[str, str]:
    """This process's environment without variables starting with ``drop``, plus ``settings``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **settings}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def marketbot(args: Sequence[str], *, env: dict[str, str], cwd: Path) -> Run:
    """``marketbot ARGS`` with ``env`` in ``cwd``: exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *MARKETBOT,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(cwd),
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=TIMEOUT)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def marketbot_sync(
    args: Sequence[str], *, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``marketbot ARGS`` with ``env`` in ``cwd``, waited for (text output captured)."""
    return subprocess.run(
        [*MARKETBOT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
