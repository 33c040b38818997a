"""The board's feed: one poller for every stream, ending with the last; boards shared
and bounded (ADR 0054)."""

from __future__ import annotations

import asyncio

from api.screens import feed
from api.screens.feed import BoardFeed, Ending, Snapshots, board_events, message


def test_a_message_puts_each_line_of_its_data_on_a_data_line_of_its_own() -> None:
    assert message("board", "a\nb", 7) == b"id: 7\nevent: board\ndata: a\ndata: b\n\n"
    assert message("beat", "") == b"event: beat\ndata: \n\n"


def test_one_poller_wakes_every_stream_and_stops_with_the_last() -> None:
    position = [5]
    looks = [0]

    def reached() -> int:
        looks[0] += 1
        return position[0]

    async def run() -> None:
        board_feed = BoardFeed(reached, poll=0.01)
        wakes = [await board_feed.subscribe() for _ in range(50)]
        assert board_feed.position == 5
        position[0] = 6
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in wakes)), 1)
        for w in wakes:
            board_feed.unsubscribe(w)
        await asyncio.sleep(0.05)
        before = looks[0]
        await asyncio.sleep(0.05)
        assert looks[0] == before  # nobody listens: nobody polls
        assert board_feed.listeners == 0

    asyncio.run(run())


def test_screens_of_one_subtree_share_one_board_and_the_kept_boards_are_bounded() -> None:
    built: list[tuple[str | None, str]] = []

    def build(key: tuple[str | None, str]) -> tuple[int, str]:
        built.append(key)
        return 3, f"board of {key}"

    async def run() -> None:
        snapshots = Snapshots(build)
        answers = await asyncio.gather(*(snapshots.get(("HW", "zh"), 3) for _ in range(100)))
        assert set(answers) == {(3, "board of ('HW', 'zh')")}
        assert built == [("HW", "zh")]
        for n in range(feed.KEPT + 10):
            await snapshots.get((f"U{n}", "en"), 0)
        assert len(snapshots._kept) == feed.KEPT

    asyncio.run(run())


def test_a_stream_sends_a_board_then_ends_when_asked() -> None:
    async def run() -> list[bytes]:
        board_feed = BoardFeed(lambda: 9, poll=0.01)
        snapshots = Snapshots(lambda key: (9, "<p>hi</p>"))
        ending = Ending()
        sent = []
        async for chunk in board_events(board_feed, snapshots, (None, "zh"), None, ending):
            sent.append(chunk)
            if chunk.startswith(b"id:"):
                ending()
        return sent

    sent = asyncio.run(asyncio.wait_for(run(), 5))
    assert sent[0].startswith(b"retry:")
    assert sent[1] == b"id: 9\nevent: board\ndata: <p>hi</p>\n\n"
    assert len(sent) == 2
