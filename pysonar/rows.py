"""Rows of a data set (`Shard`), and the CSV file a mine reads them from.

The file has a header of feature names and then `target` (the last column), and one row of
finite numbers per line; `read_csv` checks it line by line, `write_csv` writes it (the
demo deals the diabetes rows to the mines this way). A mine's rows never leave it: only
their count travels, in the gradient object (`row_count`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pysonar.errors import RowsFileError

TARGET_COLUMN = "target"


@dataclass(frozen=True, eq=False)
class Shard:
    """Rows of a data set: features (n, d) and targets (n,)."""

    features: np.ndarray
    targets: np.ndarray

    @property
    def row_count(self) -> int:
        """n, the number of rows."""
        return self.targets.shape[0]


def read_csv(path: Path) -> Shard:
    """Reads and checks a file of rows.

    Returns:
        The rows: features (n, d) and targets (n,), float64.

    Raises:
        RowsFileError: the file is missing, empty, has a bad header, a row of the wrong length,
            a value that is not a finite number, or no rows; the error names the line.
    """
    try:
        with path.open(newline="", encoding="utf-8") as file:
            lines = list(csv.reader(file))
    except OSError as error:
        raise RowsFileError(path, None, f"cannot be read: {error.strerror or error}") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise RowsFileError(path, None, f"is not a UTF-8 CSV file: {error}") from error
    if not lines:
        raise RowsFileError(path, None, "is empty; expected a header and rows")
    header = [name.strip() for name in lines[0]]
    if len(header) < 2 or header[-1] != TARGET_COLUMN or any(not name for name in header):
        raise RowsFileError(
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
            raise RowsFileError(
                path, line_number, f"has {len(fields)} values, expected {len(header)}"
            )
        rows.append([_number(path, line_number, header[i], text) for i, text in enumerate(fields)])
    if not rows:
        raise RowsFileError(path, None, "has a header but no rows")
    values = np.array(rows, dtype=np.float64)
    return Shard(features=values[:, :-1], targets=values[:, -1])


def write_csv(shard: Shard, path: Path, feature_names: Sequence[str]) -> None:
    """Writes `shard` in the format `read_csv` reads, every number exactly (a float's repr)."""
    path.write_text(csv_text(shard, feature_names), encoding="utf-8", newline="")


def csv_text(shard: Shard, feature_names: Sequence[str]) -> str:
    """`shard` as the text `write_csv` writes."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([*feature_names, TARGET_COLUMN])
    for features, target in zip(shard.features, shard.targets):
        writer.writerow([repr(float(value)) for value in features] + [repr(float(target))])
    return text.getvalue()


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RowsFileError(path, line, f"{column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise RowsFileError(path, line, f"{column}: {text!r} is not a finite number")
    return value
