"""Acting as a user: typing commands, pressing buttons, reading what they would see."""

from __future__ import annotations

import secrets
from typing import Any

from tests.fakes.discord.limits import (
    ADMINISTRATOR,
)
from tests.fakes.discord.state import (
    Channel,
    Guild,
    Interaction,
    Member,
)
from tests.fakes.discord.wire import (
    UserCannotDoThat,
)
from tests.support.wait import WAIT_TIMEOUT


class UserActions:
    """Acting as a user: typing commands, pressing buttons, reading what they would see (a part of ``DiscordFake``)."""

    # ------------------------------------------------------------ acting as a user

    def _find_command(self, guild: Guild | None, name: str) -> tuple[dict[str, Any], int | None]:
        if guild is not None:
            for cmd in self.guild_commands.get(guild.id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, guild.id
        for cmd in self.global_commands:
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                if guild is None and cmd.get("contexts") is not None and 1 not in cmd["contexts"]:
                    continue
                return cmd, None
        where = f"guild {guild.id}" if guild else "DMs"
        raise UserCannotDoThat(f"/{name} is not registered for {where}; the bot has not synced it")

    def _build_options(
        self, params: list[dict[str, Any]], values: dict[str, Any], focused: str | None
    ) -> list[dict[str, Any]]:
        known = {p["name"]: p for p in params}
        for key in values:
            if key not in known:
                raise UserCannotDoThat(f"there is no option {key!r}; options are {sorted(known)}")
        out: list[dict[str, Any]] = []
        for p in params:
            if p["name"] not in values:
                if p.get("required") and focused is None:
                    raise UserCannotDoThat(f"option {p['name']!r} is required")
                continue
            value = values[p["name"]]
            is_focused = p["name"] == focused
            if is_focused:
                if not p.get("autocomplete"):
                    raise UserCannotDoThat(f"option {p['name']!r} has no autocomplete")
                out.append({"name": p["name"], "type": p["type"], "value": str(value), "focused": True})
                continue
            kind = p["type"]
            if kind == 3:
                if not isinstance(value, str):
                    raise UserCannotDoThat(f"option {p['name']!r} takes text")
                if not p.get("min_length", 0) <= len(value) <= p.get("max_length", 6000):
                    raise UserCannotDoThat(f"option {p['name']!r} length is out of bounds")
            elif kind == 4:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise UserCannotDoThat(f"option {p['name']!r} takes a whole number")
            elif kind == 10:
                if not isinstance(value, int | float):
                    raise UserCannotDoThat(f"option {p['name']!r} takes a number")
            elif kind == 5 and not isinstance(value, bool):
                raise UserCannotDoThat(f"option {p['name']!r} takes true or false")
            low, high = p.get("min_value"), p.get("max_value")
            if kind in (4, 10) and ((low is not None and value < low) or (high is not None and value > high)):
                raise UserCannotDoThat(f"option {p['name']!r} is out of range")
            if p.get("choices") and value not in [c["value"] for c in p["choices"]]:
                raise UserCannotDoThat(f"option {p['name']!r} must be one of its choices")
            out.append({"name": p["name"], "type": kind, "value": value})
        return out

    def _interaction_payload(
        self,
        kind: int,
        guild: Guild | None,
        channel: Channel,
        member: Member,
        command: str,
        options: dict[str, Any],
        focused: str | None,
        bypass_permissions: bool,
    ) -> Interaction:
        parts = command.strip().lstrip("/").split()
        if not parts:
            raise UserCannotDoThat("empty command")
        cmd, cmd_guild = self._find_command(guild, parts[0])
        dmp = cmd.get("default_member_permissions")
        if guild is not None and dmp is not None and not bypass_permissions:
            need = int(dmp)
            have = member.effective_permissions
            if (need == 0 and not have & ADMINISTRATOR) or (need and have & need != need):
                raise UserCannotDoThat(
                    f"/{parts[0]} is hidden from {member.user.username}: it needs permissions {need} by default"
                )
        params = cmd.get("options", [])
        top: list[dict[str, Any]] = []
        container = top
        for sub in parts[1:]:
            match = next((o for o in params if o["name"] == sub and o["type"] in (1, 2)), None)
            if match is None:
                raise UserCannotDoThat(f"/{command}: no subcommand {sub!r}")
            node: dict[str, Any] = {"name": sub, "type": match["type"], "options": []}
            container.append(node)
            container = node["options"]
            params = match.get("options", [])
        if any(o["type"] in (1, 2) for o in params):
            raise UserCannotDoThat(f"/{command} needs a subcommand")
        container.extend(self._build_options(params, options, focused))
        interaction_id = self.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": top}
        if cmd_guild is not None:
            data["guild_id"] = str(cmd_guild)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "channel": {**channel.payload(), "permissions": str(member.effective_permissions)},
            "token": token,
            "version": 1,
            "app_permissions": str(channel.bot_permissions),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "context": 0 if guild else 1,
            "authorizing_integration_owners": {"0": str(guild.id)} if guild else {"1": str(member.id)},
        }
        if guild is not None:
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member.payload(),
            )
        else:
            payload["user"] = member.user.payload()
        ix = Interaction(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            guild=guild,
            channel=channel,
            member=member,
            fake=self,
        )
        self.interactions[interaction_id] = ix
        return ix

    async def slash(
        self,
        member: Member,
        channel: Channel,
        command: str,
        *,
        bypass_permissions: bool = False,
        **options: Any,
    ) -> Interaction:
        """``member`` runs ``/command sub`` with ``options`` in ``channel``, as Discord's client would send it.

        Raises UserCannotDoThat when the client would not let the user (command not synced,
        hidden by ``default_member_permissions`` unless ``bypass_permissions`` — a server admin's
        override in Integrations — or options that do not fit the command's definition).
        """
        guild = channel.guild
        ix = self._interaction_payload(2, guild, channel, member, command, options, None, bypass_permissions)
        await self.dispatch("INTERACTION_CREATE", ix.payload)
        return ix

    async def autocomplete(
        self,
        member: Member,
        channel: Channel,
        command: str,
        *,
        focused: str,
        timeout: float = WAIT_TIMEOUT,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """``member`` types into option ``focused``; returns the choices the bot offered."""
        ix = self._interaction_payload(4, channel.guild, channel, member, command, options, focused, False)
        await self.dispatch("INTERACTION_CREATE", ix.payload)
        await self.wait_for(lambda: ix.choices is not None, timeout=timeout, what="autocomplete choices")
        assert ix.choices is not None
        return ix.choices
