"""Records of a cluster of replicas sharing one database: who is alive, who holds what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

CATALOG_VERSION = "catalog"  # bumped by every change to a stored watchlist: replicas recompile


@dataclass(frozen=True)
class Replica:
    """One running ``marketbot run`` process, as its heartbeat row describes it."""

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    roles: tuple[str, ...] = field(default=())

    def alive(self, now: datetime, *, timeout: float) -> bool:
        """Whether its last heartbeat is recent enough (``timeout`` seconds)."""
        return (now - self.heartbeat_at).total_seconds() <= timeout


@dataclass(frozen=True)
class Lease:
    """A named lease: held by ``holder`` until ``expires_at`` unless renewed.

    ``token`` grows by one every time the lease changes hands (a fencing token: work done under
    an older token is stale).
    """

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
    token: int

    def held_by(self, holder: str, now: datetime) -> bool:
        return self.holder == holder and self.expires_at > now
