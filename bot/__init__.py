"""marketbot: market-news alerts for Slack and Discord."""

__version__ = "0.1.0"
