"""Who may change what from chat. Enforced in the handlers, whatever the platform's UI allows.

- Anyone may use /quote, /news and the read-only /watch commands (list, show, test, ...).
- ``commands.restrict_to_admins`` restricts every change to admins.
- Discord: every change (watchlists and subscriptions) needs Manage Channels (``can_manage``).
- Elsewhere (Slack, the console): any member may create watchlists and subscribe, unsubscribe
  or mute their own channel; editing or deleting a watchlist is for its creator and admins.

Feeds (/feed) are for admins only: workspace admins and owners, the config's admins, and on
Discord members with Manage Server (``can_manage_server``).

Admins are workspace admins and owners (``ctx.is_admin``, from Slack's ``users.info``) and the
config's ``admins`` (``slack:U0123ABCD``, ``discord:112233445566778899``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from bot.commands import messages as msg
from bot.domain.errors import CommandError
from bot.domain.models import CommandContext, Watchlist

Change = Literal["create", "edit", "subscribe"]


class PermissionDenied(CommandError):
    """The caller may not make this change; the message says who may."""


class Permissions:
    """The permission rules, bound to the config's admin list and switch."""

    def __init__(self, *, admins: Iterable[str], restrict_to_admins: bool) -> None:
        self._admins = frozenset(a.strip() for a in admins)
        self.restrict_to_admins = restrict_to_admins

    def is_admin(self, ctx: CommandContext) -> bool:
        """A workspace admin or owner, or one of the config's admins."""
        return ctx.is_admin or f"{ctx.platform}:{ctx.user}" in self._admins

    def check(self, ctx: CommandContext, change: Change, watchlist: Watchlist | None = None) -> None:
        """Raise PermissionDenied unless ``ctx`` may make ``change`` (to ``watchlist`` for edits)."""
        admin = self.is_admin(ctx)
        if admin:
            return
        if self.restrict_to_admins:
            raise PermissionDenied(msg.DENIED_RESTRICTED)
        if ctx.platform == "discord":
            if not ctx.can_manage:
                raise PermissionDenied(msg.DENIED_DISCORD)
            return
        if change == "edit" and watchlist is not None and watchlist.created_by != ctx.user:
            raise PermissionDenied(msg.denied_not_creator(watchlist.name))

    def check_feeds(self, ctx: CommandContext) -> None:
        """Raise PermissionDenied unless ``ctx`` may manage this workspace's feeds."""
        if self.is_admin(ctx) or (ctx.platform == "discord" and ctx.can_manage_server):
            return
        raise PermissionDenied(msg.DENIED_FEEDS)
