"""``python -m bot`` runs the CLI."""

import gc

from bot import GC_THRESHOLDS

# set before bot.cli and what it imports are loaded
gc.set_threshold(*GC_THRESHOLDS)

from bot.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
