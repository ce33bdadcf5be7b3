"""Delivery: subscriptions' options, alert composition, the outbox dispatcher, digests.

* ``pipeline.AlertPipeline`` — new stories (and new sources) → outbox rows;
* ``dispatcher.Dispatcher`` — outbox rows → chat messages, once, in order, rate-limited;
* ``digests.HeldReleaser`` — held alerts → one digest when quiet hours / mutes / caps end;
* ``compose`` — pure alert composition; ``escape`` — what feed text may never carry.
"""
