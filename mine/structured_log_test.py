"""The mine's log lines: logfmt, one per record, naming the mine, model, version and event."""

from __future__ import annotations

import logging

from mine.structured_log import LogfmtFormatter

MINE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("mine", logging.INFO, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_a_line_names_the_mine_then_model_version_and_event_then_other_fields() -> None:
    line = LogfmtFormatter(MINE).format(
        record("submitted a gradient", gradient="QmX", event="submitted", version=3, model=0)
    )
    fields = line.split(" ")
    assert fields[0].startswith("time=") and fields[0].endswith("Z")
    assert fields[1:7] == [
        "level=info",
        f"mine={MINE}",
        "model=0",
        "version=3",
        "event=submitted",
        "gradient=QmX",
    ]
    assert line.endswith('msg="submitted a gradient"')


def test_values_with_spaces_quotes_or_newlines_are_quoted_on_one_line() -> None:
    line = LogfmtFormatter(MINE).format(record('a "quoted"\nmessage', reason="x=1 y"))
    assert "\n" not in line
    assert 'reason="x=1 y"' in line
    assert line.endswith('msg="a \\"quoted\\"\\nmessage"')


def test_a_traceback_is_folded_into_the_error_field_of_the_same_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        made = logging.LogRecord(
            "mine", logging.ERROR, __file__, 1, "the mine failed", (), sys.exc_info()
        )
    line = LogfmtFormatter(MINE).format(made)
    assert "\n" not in line
    assert "level=error" in line
    assert "RuntimeError: boom" in line
