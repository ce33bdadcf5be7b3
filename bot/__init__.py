"""marketbot: market-news alerts for Slack and Discord."""

__version__ = "0.1.0"

# The collector's (young, middle, old) thresholds of ``marketbot run`` (see bot.app.interpreter):
# defined here, where the CLI can set them before its heavy imports.
GC_THRESHOLDS = (10_000, 10, 10)
