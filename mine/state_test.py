"""The mine's SQLite state survives reopening, moves atomically, and belongs to one account."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mine.errors import StateError
from mine.state import Answer, MineState

MINE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def test_a_new_state_starts_at_its_start_block_with_nothing_answered(tmp_path: Path) -> None:
    with MineState(tmp_path / "db", account=MINE, start_block=7) as state:
        assert state.cursor == 7
        assert state.open_models() == []
        assert state.answer(0, 0) is None
        assert state.counts() == (0, 0)
        assert not state.withdrawal_due


def test_everything_recorded_survives_reopening(tmp_path: Path) -> None:
    answer = Answer(1, 3, 12345, "QmX", "0xabc")
    with MineState(tmp_path / "db", account=MINE) as state:
        state.advance(40, opened=[0, 1, 2], closed=[0])
        state.record_answer(answer)
        state.skip(2, 0, "not valid JSON")
    with MineState(tmp_path / "db", account=MINE, start_block=999) as state:
        assert state.cursor == 40
        assert state.open_models() == [1, 2]
        assert state.answer(1, 3) == answer
        assert state.answers() == [answer]
        assert state.skipped(2, 0) == "not valid JSON"
        assert state.skipped(2, 1) is None
        assert state.withdrawal_due
        assert state.counts() == (1, 1)


def test_a_closing_sets_a_withdrawal_due_until_it_is_done(tmp_path: Path) -> None:
    with MineState(tmp_path / "db", account=MINE) as state:
        state.advance(5, opened=[0], closed=[])
        assert not state.withdrawal_due
        state.mark_closed(0)
        assert state.withdrawal_due and state.open_models() == [] and state.cursor == 5
        state.withdrawal_done()
        assert not state.withdrawal_due


def test_an_advance_that_fails_midway_changes_nothing(tmp_path: Path) -> None:
    with MineState(tmp_path / "db", account=MINE) as state:
        state.advance(10, opened=[0], closed=[])
        with pytest.raises(sqlite3.Error):
            state.advance(20, opened=[1, "not a model id"], closed=[])  # type: ignore[list-item]
        assert state.cursor == 10
        assert state.open_models() == [0]


def test_the_state_of_another_mine_is_refused(tmp_path: Path) -> None:
    MineState(tmp_path / "db", account=MINE).close()
    with pytest.raises(StateError, match=f"is the state of mine {MINE}, not of {OTHER}"):
        MineState(tmp_path / "db", account=OTHER)
