"""The Discord gateway on exactly one replica: the holder of the gateway lease runs it.

Discord sends every interaction to every gateway session of a bot, so two replicas with a
session each would both run every command (and the slower answer is refused with 40060).
``GatewayLeader`` keeps ``GATEWAY_LEASE`` through a ``LeaseKeeper`` — a ``GATEWAY_TTL``
(8 s) lease renewed every ``GATEWAY_EVERY`` (2 s) — and switches the gateway session on while
this replica holds the lease and off as soon as it does not. Every replica still sends alerts
and answers over REST; only the session (which receives interactions) moves.

Timings: a leader that dies (SIGKILL) stops renewing, its lease expires at most ``ttl`` after
its last renewal, and a standby ticking every ``every`` seconds takes it at most ``every``
later: a new session within ``ttl + every`` (10 s) plus one gateway connect, which keeps the
failover inside 15 s on a busy host too (``tests/e2e/test_replicas_e2e.py``). A leader that
cannot renew (the database is away, or slow) stops at ``0.8 · ttl`` after its last good
renewal, before anyone else may take the lease, so two sessions never overlap on the lease's
account. A clean shutdown closes the session first, then releases the lease: the next standby
tick takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from bot.cluster import GATEWAY_LEASE, LeaseKeeper
from bot.ports import Clock, Coordination

log = logging.getLogger(__name__)

GATEWAY_TTL = 8.0  # seconds a gateway lease lives without renewal
GATEWAY_EVERY = 2.0  # seconds between renewals (and between a standby's attempts)


class GatewaySwitch(Protocol):
    """What runs the gateway session (``DiscordAdapter``)."""

    async def set_gateway(self, on: bool) -> None: ...


class GatewayLeader:
    """Runs the gateway session on this replica while it holds ``GATEWAY_LEASE``.

    ``run_once()`` is one tick (take or renew the lease, switch accordingly); ``start()`` ticks
    every ``every`` seconds in a task; ``aclose()`` hands over (session closed, lease released).
    """

    def __init__(
        self,
        store: Coordination,
        clock: Clock,
        *,
        holder: str,
        switch: GatewaySwitch,
        ttl: float = GATEWAY_TTL,
        every: float = GATEWAY_EVERY,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.keeper = LeaseKeeper(store, clock, name=GATEWAY_LEASE, holder=holder, ttl=ttl)
        self.switch, self.every, self.on_change = switch, every, on_change
        self.leading = False
        self.changes = 0  # times this replica started or stopped leading
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def token(self) -> int | None:
        """The lease's fencing token while this replica leads."""
        return self.keeper.lease.token if self.leading and self.keeper.lease is not None else None

    async def run_once(self) -> bool:
        """Take or renew the lease; start or stop the session to match. True while leading."""
        try:
            # a renewal that hangs must not keep a leader that lost its lease connected
            async with asyncio.timeout(self.every):
                await self.keeper.run_once()
        except TimeoutError:
            log.warning("gateway lease: the database did not answer within %.0f s", self.every)
        held = self.keeper.held
        if held != self.leading:
            self.leading = held
            self.changes += 1
            log.info(
                "gateway lease %s (token %s): %s",
                "taken" if held else "lost",
                self.keeper.lease.token if held and self.keeper.lease else "-",
                "this replica runs the Discord gateway" if held else "the gateway session closes here",
            )
            if self.on_change is not None:
                self.on_change(held)
            await self.switch.set_gateway(held)
        return held

    async def run(self) -> None:
        """Tick until ``aclose()``."""
        while not self._stopped.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("gateway lease: tick failed; trying again in %.0f s", self.every)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self._stopped.wait()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="gateway-leader")

    async def aclose(self) -> None:
        """Hand over: stop ticking, close the session, then give the lease back."""
        self._stopped.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.leading:
            self.leading = False
            self.changes += 1
            if self.on_change is not None:
                self.on_change(False)
            await self.switch.set_gateway(False)
        try:
            await self.keeper.release()
        except Exception as exc:  # the lease lapses by itself within its ttl
            log.warning(
                "gateway lease: could not release it (%s); it lapses within %.0f s", exc, self.keeper.ttl
            )
        else:
            log.info("gateway lease released")
