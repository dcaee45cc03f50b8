"""The data owner's rows: read from a CSV file, checked line by line, kept in this process.

The file has a header of feature names and then `target` (the last column), and one row of
finite numbers per line. Rows never leave the mine: only their count travels, in the
gradient object (`row_count`).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from mine.errors import ShardError
from pysonar.diabetes import Shard

TARGET_COLUMN = "target"  # as `pysonar.diabetes.write_csv` writes it


def read_shard(path: Path) -> Shard:
    """Reads and checks a shard file.

    Returns:
        The rows: features (n, d) and targets (n,), float64.

    Raises:
        ShardError: the file is missing, empty, has a bad header, a row of the wrong length,
            a value that is not a finite number, or no rows; the error names the line.
    """
    try:
        with path.open(newline="", encoding="utf-8") as file:
            lines = list(csv.reader(file))
    except OSError as error:
        raise ShardError(path, None, f"cannot be read: {error.strerror or error}") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise ShardError(path, None, f"is not a UTF-8 CSV file: {error}") from error
    if not lines:
        raise ShardError(path, None, "is empty; expected a header and rows")
    header = [name.strip() for name in lines[0]]
    if len(header) < 2 or header[-1] != TARGET_COLUMN or any(not name for name in header):
        raise ShardError(
            path,
            1,
            f"expected a header of feature names followed by {TARGET_COLUMN!r}, "
            f"found {','.join(lines[0])!r}",
        )
    rows = []
    for line_number, fields in enumerate(lines[1:], start=2):
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            raise ShardError(path, line_number, f"has {len(fields)} values, expected {len(header)}")
        rows.append([_number(path, line_number, header[i], text) for i, text in enumerate(fields)])
    if not rows:
        raise ShardError(path, None, "has a header but no rows")
    values = np.array(rows, dtype=np.float64)
    return Shard(features=values[:, :-1], targets=values[:, -1])


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ShardError(path, line, f"{column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ShardError(path, line, f"{column}: {text!r} is not a finite number")
    return value
