"""Rows files: what write_csv writes read_csv reads back, and each way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.errors import RowsFileError
from pysonar.rows import read_csv, write_csv


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shard.csv"
    path.write_text(text)
    return path


def test_reads_exactly_the_rows_the_demo_writes(tmp_path: Path) -> None:
    shard = diabetes.split(diabetes.load(), validation_rows=0, shard_rows=[40], seed=1).shards[0]
    path = tmp_path / "shard.csv"
    write_csv(shard, path, diabetes.FEATURE_NAMES)

    read = read_csv(path)

    np.testing.assert_array_equal(read.features, shard.features)
    np.testing.assert_array_equal(read.targets, shard.targets)
    assert path.read_text().splitlines()[0] == "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target"


def test_any_number_of_features_and_blank_lines_are_fine(tmp_path: Path) -> None:
    read = read_csv(write(tmp_path, "a,b,target\n1,2,3\n\n4.5,-6e-2,7\n"))
    np.testing.assert_array_equal(read.features, [[1, 2], [4.5, -0.06]])
    np.testing.assert_array_equal(read.targets, [3, 7])


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "is empty"),
        ("a,b,c\n1,2,3\n", 1, "followed by 'target'"),
        ("target\n1\n", 1, "followed by 'target'"),
        ("a,,target\n1,2,3\n", 1, "followed by 'target'"),
        ("a,b,target\n", None, "has a header but no rows"),
        ("a,b,target\n1,2,3\n1,2\n", 3, "has 2 values, expected 3"),
        ("a,b,target\n1,2,3\n1,x,3\n", 3, "b: 'x' is not a number"),
        ("a,b,target\n1,nan,3\n", 2, "b: 'nan' is not a finite number"),
        ("a,b,target\n1,2,inf\n", 2, "target: 'inf' is not a finite number"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_line(
    tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RowsFileError) as raised:
        read_csv(path)
    assert raised.value.line == line
    assert reason in raised.value.reason
    assert str(raised.value).startswith(f"{path}, line {line}:" if line else f"{path}:")


def test_a_missing_or_binary_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RowsFileError, match="cannot be read: No such file or directory"):
        read_csv(tmp_path / "missing.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00a,target\n")
    with pytest.raises(RowsFileError, match="is not a UTF-8 CSV file"):
        read_csv(binary)
