"""``python -m bot`` runs the CLI."""

import gc

# bot.cli.START_GC_THRESHOLDS, set before bot.cli and what it imports are loaded
gc.set_threshold(10_000, 10, 10)

from bot.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
