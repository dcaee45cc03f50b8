"""The status file: one JSON line, replaced atomically, rewritten on change or heartbeat."""

from __future__ import annotations

from pathlib import Path

import pytest

from mine import status as status_module
from mine.status import Status, StatusFile, read_status

MINE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_the_status_is_one_json_line_with_the_time(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    status = StatusFile(path, Status(state="starting", mine=MINE))
    status.update(state="running", block=12, answered=3, last="submitted model 0 version 2")

    text = path.read_text()
    assert text.count("\n") == 1
    read = read_status(path)
    assert read["state"] == "running"
    assert (read["mine"], read["block"], read["answered"]) == (MINE, 12, 3)
    assert str(read["time"]).endswith("Z")
    assert not list(tmp_path.glob("*.partial"))


def test_it_is_rewritten_when_something_changes_or_the_heartbeat_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "status.json"
    clock = [100.0]
    monkeypatch.setattr(status_module.time, "monotonic", lambda: clock[0])
    status = StatusFile(path, Status(state="running", mine=MINE))
    status.update()
    path.write_text("left alone\n")
    status.update()  # nothing changed, heartbeat not due
    assert path.read_text() == "left alone\n"
    clock[0] += status_module.HEARTBEAT_SECONDS + 1
    status.update()
    assert read_status(path)["state"] == "running"
    status.update(state="waiting", waiting_for="the chain at http://127.0.0.1:8545")
    assert read_status(path)["waiting_for"] == "the chain at http://127.0.0.1:8545"


def test_an_unknown_state_is_refused(tmp_path: Path) -> None:
    status = StatusFile(tmp_path / "status.json", Status(state="running", mine=MINE))
    with pytest.raises(ValueError, match="unknown mine state 'dancing'"):
        status.update(state="dancing")
