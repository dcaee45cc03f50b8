"""The demo task's data: scikit-learn's diabetes set, split into validation rows and shards.

The set (442 rows, 10 standardised features, a disease-progression target with variance
about 5,900; Efron et al., "Least Angle Regression", 2004) is the one scikit-learn ships,
kept beside this module as `diabetes.csv` in the rows format (`pysonar.rows`), every value
exactly as `sklearn.datasets.load_diabetes()` returns it: the notebook's image and the
mines need the rows without scikit-learn and SciPy (150 MiB). `diabetes_test.py` checks
the file against scikit-learn value for value; to write it again:
`write_csv(Shard(*load_diabetes(return_X_y=True)), Path("pysonar/diabetes.csv"), FEATURE_NAMES)`.

`split` deals the rows, in a seeded random order, into the data scientist's validation rows
and disjoint mine shards, so no mine ever trains on a validation row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from pysonar.errors import ShapeMismatch
from pysonar.rows import Shard, read_csv


@dataclass(frozen=True, eq=False)
class Split:
    """The data scientist's validation rows and the mines' disjoint shards."""

    validation: Shard
    shards: tuple[Shard, ...]


FEATURE_NAMES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def load() -> Shard:
    """Return the whole diabetes set (442 rows) as float64."""
    with resources.as_file(resources.files("pysonar") / "diabetes.csv") as path:
        return read_csv(path)


def split(data: Shard, *, validation_rows: int, shard_rows: Sequence[int], seed: int) -> Split:
    """Deal `data`'s rows in a seeded random order: validation rows first, then each shard.

    Parameters:
        data: the rows to deal.
        validation_rows: rows kept by the data scientist (0 for none).
        shard_rows: the row count of each mine's shard, each at least 1.
        seed: the shuffle's seed; the same seed gives the same split.

    Returns:
        The split; rows not dealt are left out.

    Raises:
        ShapeMismatch: more rows asked for than `data` has.
        ValueError: a negative validation count or a shard of fewer than one row.
    """
    if validation_rows < 0 or any(rows < 1 for rows in shard_rows):
        raise ValueError(
            f"need validation_rows >= 0 and shards of >= 1 row, not {validation_rows}, "
            f"{list(shard_rows)}"
        )
    wanted = validation_rows + sum(shard_rows)
    if wanted > data.row_count:
        raise ShapeMismatch(what="rows requested", expected=f"<= {data.row_count}", found=wanted)
    order = np.random.default_rng(seed).permutation(data.row_count)

    def take(start: int, count: int) -> Shard:
        rows = order[start : start + count]
        return Shard(data.features[rows], data.targets[rows])

    shards = []
    start = validation_rows
    for rows in shard_rows:
        shards.append(take(start, rows))
        start += rows
    return Split(validation=take(0, validation_rows), shards=tuple(shards))
