"""The one error tree. Every error the bot raises on purpose derives from BotError."""

from __future__ import annotations


class BotError(Exception):
    """Root of every error marketbot raises deliberately; its message is user-facing."""


class ConfigError(BotError):
    """The configuration is invalid; the message names the file, the key path and the fix."""


class ValidationError(BotError):
    """A value (a channel id, a duration, a symbol, a query) is malformed."""


class StoreError(BotError):
    """The database cannot be reached or migrated."""


class SourceError(BotError):
    """A news or quote source failed; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class QuoteUnavailable(SourceError):
    """No price could be had within the deadline (timeout, circuit open, unknown symbol)."""


class DeliveryError(BotError):
    """A chat platform refused or failed a send.

    ``retryable`` is False for permanent failures (channel gone, bot removed, token revoked):
    the subscription is then marked broken instead of retried. ``retry_after`` is the
    platform's own hint in seconds (Retry-After), when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code


class CredentialsRejected(DeliveryError):
    """The platform rejected the bot's own credentials (revoked, expired or wrong token, app removed).

    Every channel of that platform fails alike, so this is never a channel's fault: delivery to
    the whole platform pauses (alerts stay queued, no subscription breaks) until the platform
    accepts the credentials again. ``setting`` names what to fix (e.g. ``SLACK_BOT_TOKEN``).
    """

    def __init__(self, message: str, *, platform: str, setting: str, code: str | None = None) -> None:
        super().__init__(message, retryable=False, code=code)
        self.platform = platform
        self.setting = setting


class CommandError(BotError):
    """A chat command was malformed or not allowed; the message is shown to the user."""
