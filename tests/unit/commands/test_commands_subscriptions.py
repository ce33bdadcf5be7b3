"""/watch subscribe, unsubscribe, subscriptions, mute and unmute for this channel."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

from bot.commands import CommandService
from bot.domain.models import Alert, ChannelRef, QuietHours, SubscriptionOptions, TradingSession
from bot.domain.records import OutboxEntry, SubscriptionSpec
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore

from .conftest import SLACK_CHANNEL, SLACK_TEAM, Chat, slack_ctx

HERE = ChannelRef("slack", SLACK_CHANNEL, workspace=SLACK_TEAM)


async def test_subscribe_to_a_config_watchlist(chat: Chat, sqlite_store: SqlStore) -> None:
    reply = await chat("/watch subscribe Cloud-China")
    assert not reply.private and not reply.error
    assert reply.text == "This channel now gets alerts from cloud-china."
    assert reply in chat.channel_sees()
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    assert (sub.watchlist, sub.scope, sub.origin, sub.created_by) == ("cloud-china", "config", "chat", "U1")
    assert sub.channel.workspace == SLACK_TEAM
    assert sub.options == SubscriptionOptions()


async def test_subscribe_with_briefing_then_toggle(chat: Chat, sqlite_store: SqlStore) -> None:
    reply = await chat("/watch subscribe cloud-china briefing")
    assert (
        reply.text
        == "This channel now gets alerts from cloud-china and the pre-market briefing on trading days."
    )
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    assert sub.options.briefing == "premarket"

    reply = await chat("/watch subscribe cloud-china")
    assert reply.private and not reply.error
    assert reply.text == "This channel is already subscribed to cloud-china (with the pre-market briefing)."

    await chat("/watch mute 2h")
    reply = await chat("/watch subscribe cloud-china no-briefing")
    assert reply.text == "The pre-market briefing for cloud-china is now off in this channel."
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    assert sub.options.briefing == "none"
    assert sub.options.mute_until is not None  # toggling the briefing keeps the other options


async def test_subscribe_unknown_watchlist(chat: Chat) -> None:
    reply = await chat("/watch subscribe cloud-chin")
    assert reply.error and reply.private
    assert (
        reply.text
        == "There is no watchlist named 'cloud-chin' here. Did you mean cloud-china? /watch list shows them all."
    )


async def test_unsubscribe(chat: Chat, sqlite_store: SqlStore) -> None:
    await chat("/watch create chips NVDA")
    await chat("/watch subscribe chips")
    await chat("/watch subscribe cloud-china")
    reply = await chat("/watch unsubscribe CHIPS")
    assert not reply.private and reply.text == "This channel no longer gets alerts from chips."
    assert [s.watchlist for s in await sqlite_store.list_subscriptions(channel=HERE)] == ["cloud-china"]
    reply = await chat("/watch unsubscribe chips")
    assert (
        reply.error
        and reply.text == "This channel is not subscribed to 'chips'; /watch subscriptions shows what it is."
    )


async def test_config_subscriptions_are_changed_in_the_config(chat: Chat, sqlite_store: SqlStore) -> None:
    await sqlite_store.sync_config_subscriptions(
        [SubscriptionSpec("cloud-china", ChannelRef("slack", SLACK_CHANNEL))]
    )
    reply = await chat("/watch unsubscribe cloud-china")
    assert reply.error and "comes from the bot's config file" in reply.text
    assert "mute it meanwhile with /watch mute 1d" in reply.text
    reply = await chat("/watch subscribe cloud-china briefing")
    assert reply.error and "comes from the bot's config file" in reply.text
    # muting a config subscription is fine: it is temporary
    reply = await chat("/watch mute 1d cloud-china")
    assert not reply.error
    reply = await chat("/watch subscriptions")
    assert reply.items[0].detail.startswith("muted until Thu 26 Nov 08:00 EST (in 1d) · from the config file")


async def test_subscriptions_of_this_channel(chat: Chat, sqlite_store: SqlStore) -> None:
    reply = await chat("/watch subscriptions")
    assert reply.private and not reply.error
    assert reply.text == "This channel has no subscriptions. Try /watch list, then /watch subscribe NAME."
    await chat("/watch subscribe cloud-china briefing")
    await chat("/watch subscribe chips-policy")
    await chat("/watch subscribe chips-policy", channel=slack_ctx(channel="C0999OTHER").channel)
    (_, policy) = await sqlite_store.list_subscriptions(channel=HERE)
    await sqlite_store.mark_subscription_broken(policy.id, "channel_not_found")
    reply = await chat("/watch subscriptions")
    assert [(i.text, i.detail) for i in reply.items] == [
        ("cloud-china", "briefing premarket"),
        ("chips-policy", "broken: channel_not_found"),
    ]


async def test_mute_and_unmute(chat: Chat, sqlite_store: SqlStore, clock: ManualClock) -> None:
    await chat("/watch subscribe cloud-china")
    await chat("/watch subscribe chips-policy")
    await chat("/watch subscribe chips-policy", channel=slack_ctx(channel="C0999OTHER").channel)
    reply = await chat("/watch mute 2h")
    assert not reply.private and not reply.error
    assert reply.text == (
        "Muted 2 subscriptions in this channel until 10:00 EST (in 2h). Alerts meanwhile are held, not lost; "
        "/watch unmute ends it."
    )
    subs = await sqlite_store.list_subscriptions(channel=HERE)
    assert {s.options.mute_until for s in subs} == {clock.now() + timedelta(hours=2)}
    (other,) = await sqlite_store.list_subscriptions(channel=ChannelRef("slack", "C0999OTHER"))
    assert other.options.mute_until is None  # only this channel

    reply = await chat("/watch unmute")
    assert reply.text == "Unmuted 2 subscriptions in this channel."
    assert all(s.options.mute_until is None for s in await sqlite_store.list_subscriptions(channel=HERE))
    reply = await chat("/watch unmute")
    assert reply.private and reply.text == "Nothing is muted in this channel."


async def test_mute_one_watchlist(chat: Chat, sqlite_store: SqlStore, clock: ManualClock) -> None:
    await chat("/watch subscribe cloud-china")
    await chat("/watch subscribe chips-policy")
    reply = await chat("/watch mute chips-policy 30m")
    assert reply.text.startswith("Muted chips-policy in this channel until 08:30 EST (in 30m).")
    muted = {s.watchlist: s.options.mute_until for s in await sqlite_store.list_subscriptions(channel=HERE)}
    assert muted == {"cloud-china": None, "chips-policy": clock.now() + timedelta(minutes=30)}
    reply = await chat("/watch unmute chips-policy")
    assert reply.text == "Unmuted chips-policy in this channel."


async def test_expired_mutes_are_not_mutes(chat: Chat, clock: ManualClock) -> None:
    await chat("/watch subscribe cloud-china")
    await chat("/watch mute 30m")
    clock.advance(timedelta(hours=1))
    reply = await chat("/watch unmute")
    assert reply.text == "Nothing is muted in this channel."
    reply = await chat("/watch subscriptions")
    assert reply.items[0].detail == ""


async def test_mute_needs_subscriptions(chat: Chat) -> None:
    reply = await chat("/watch mute 2h")
    assert reply.error and reply.private and "This channel has no subscriptions" in reply.text
    reply = await chat("/watch mute 2h chips-policy")
    assert reply.error and "not subscribed to 'chips-policy'" in reply.text


async def test_mute_durations(chat: Chat) -> None:
    await chat("/watch subscribe cloud-china")
    reply = await chat("/watch mute 1d")
    assert "until Thu 26 Nov 08:00 EST (in 1d)" in reply.text
    for bad, fragment in (
        ("mute 90", "'90' needs a unit"),
        ("mute forever", "not a duration"),
        ("mute 31d", "Choose between 1m and 30d"),
    ):
        reply = await chat(f"/watch {bad}")
        assert reply.error and fragment in reply.text
        assert {f.label: f.value for f in reply.fields}["Usage"].startswith("/watch mute 2h|30m|1d [NAME]")


# ---------------------------------------------------------------- options


async def test_subscribe_with_options_then_change_them(
    chat: Chat, sqlite_store: SqlStore, clock: ManualClock
) -> None:
    reply = await chat(
        "/watch subscribe cloud-china quiet 22:00-06:00 max 10/h min-move 2% sessions pre-market,regular"
    )
    assert not reply.error and not reply.private
    assert reply.text == (
        "This channel now gets alerts from cloud-china with quiet 22:00-06:00 EST, max 10/h, "
        "min-move 2%, sessions pre-market,regular."
    )
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    assert sub.options == SubscriptionOptions(
        quiet_hours=QuietHours(time(22), time(6)),
        max_per_hour=10,
        min_move_pct=2.0,
        sessions=(TradingSession.PRE, TradingSession.REGULAR),
    )

    reply = await chat("/watch options cloud-china threads off max off briefing premarket")
    assert reply.text == "Changed cloud-china in this channel: threads off, max off, briefing premarket."
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    assert (sub.options.threads, sub.options.max_per_hour, sub.options.briefing) == (False, None, "premarket")
    assert sub.options.quiet_hours == QuietHours(time(22), time(6))  # the others are kept

    reply = await chat("/watch options cloud-china threads off")
    assert (
        reply.private
        and reply.text == "Nothing changed: cloud-china in this channel already has those options."
    )

    reply = await chat("/watch options cloud-china")
    assert reply.private and reply.fields[0].value == (
        "quiet 22:00-06:00 EST · max off · min-move 2% · sessions pre-market,regular · threads off · "
        "briefing premarket"
    )
    await chat("/watch mute 2h cloud-china")
    reply = await chat("/watch subscriptions")
    assert reply.items[0].detail == (
        "quiet 22:00-06:00 EST · min-move 2% · sessions pre-market,regular · threads off · briefing premarket · "
        "muted until 10:00 EST (in 2h)"
    )


async def test_options_survive_a_restart(chat: Chat, sqlite_store: SqlStore, service: CommandService) -> None:
    """Chat-set options are stored: a new service (a restarted bot) on the same store shows them."""
    await chat("/watch subscribe cloud-china min-move 1.5% threads off")
    await sqlite_store.sync_config_subscriptions([])  # what start-up does with the config's subscriptions
    again = CommandService(
        sqlite_store,
        service.catalog,
        service.market.quotes,
        service.market.charts,
        service.directory,
        service.options,
        service.watch.clock,
    )
    reply = await again.handle(slack_ctx(), "watch", "subscriptions")
    assert reply.items[0].detail == "min-move 1.5% · threads off"


async def test_options_errors_store_nothing(chat: Chat, sqlite_store: SqlStore) -> None:
    for line, fragment in [
        ("/watch subscribe cloud-china quiet 22:00-6", "is not a quiet-hours window"),
        ("/watch subscribe cloud-china min-move two", "'two' is not a percentage"),
        ("/watch subscribe cloud-china sessions lunch", "'lunch' is not a trading session"),
        ("/watch subscribe cloud-china max 10/day", "'10/day' is not an hourly cap"),
    ]:
        reply = await chat(line)
        assert reply.error and reply.private and fragment in reply.text, line
        assert "\n" not in reply.text
        assert reply.fields[0].value.startswith("/watch subscribe NAME [OPTIONS]")
    assert await sqlite_store.list_subscriptions(channel=HERE) == []
    reply = await chat("/watch options cloud-china max 5")
    assert reply.error and "not subscribed to 'cloud-china'" in reply.text


async def test_config_subscription_options_are_read_only(chat: Chat, sqlite_store: SqlStore) -> None:
    await sqlite_store.sync_config_subscriptions(
        [
            SubscriptionSpec(
                "cloud-china", ChannelRef("slack", SLACK_CHANNEL), SubscriptionOptions(max_per_hour=3)
            )
        ]
    )
    reply = await chat("/watch options cloud-china max 10/h")
    assert reply.error and "its options are set there" in reply.text
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    assert sub.options.max_per_hour == 3
    reply = await chat("/watch options cloud-china")
    assert not reply.error and "max 3/h" in reply.fields[0].value


async def test_subscriptions_show_held_and_queued_alerts(
    chat: Chat, sqlite_store: SqlStore, clock: ManualClock
) -> None:
    await chat("/watch subscribe cloud-china")
    (sub,) = await sqlite_store.list_subscriptions(channel=HERE)
    now = clock.now()
    alert = Alert(key="k1", kind="story", channel=HERE, watchlist="cloud-china", title="Cloud news")
    await sqlite_store.enqueue(
        [
            OutboxEntry(key="k1", alert=alert, subscription_id=sub.id, due_at=now, status="held"),
            OutboxEntry(
                key="k2", alert=replace(alert, key="k2"), subscription_id=sub.id, due_at=now, status="held"
            ),
            OutboxEntry(key="k3", alert=replace(alert, key="k3"), subscription_id=sub.id, due_at=now),
        ]
    )
    reply = await chat("/watch subscriptions")
    assert reply.items[0].detail == "2 held alerts · 1 queued"


async def test_discord_options_need_manage_channels(discord_chat: Chat) -> None:
    await discord_chat("/watch subscribe cloud-china")
    reply = await discord_chat("/watch options cloud-china max 5", can_manage=False)
    assert reply.error and "Manage Channels" in reply.text
    reply = await discord_chat("/watch options cloud-china", can_manage=False)  # looking is fine
    assert not reply.error
