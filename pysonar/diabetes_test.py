"""The demo data is scikit-learn's, value for value, and splits reproducibly into disjoint parts."""

from __future__ import annotations

import numpy as np
import pytest

from pysonar import diabetes
from pysonar.errors import ShapeMismatch


def rows_of(shard: diabetes.Shard) -> set[tuple[float, ...]]:
    return {tuple(row) for row in np.column_stack([shard.features, shard.targets])}


def test_loads_442_rows_of_10_features_without_a_download(diabetes_data: diabetes.Shard) -> None:
    assert diabetes_data.features.shape == (442, 10)
    assert diabetes_data.row_count == 442
    assert abs(float(np.var(diabetes_data.targets)) - 5929.88) < 0.01


def test_the_rows_are_scikit_learns_value_for_value(diabetes_data: diabetes.Shard) -> None:
    from sklearn.datasets import load_diabetes  # the reference, in the tests only

    features, targets = load_diabetes(return_X_y=True)

    np.testing.assert_array_equal(diabetes_data.features, features)
    np.testing.assert_array_equal(diabetes_data.targets, targets)


def test_a_split_is_disjoint_and_keeps_validation_rows_from_every_shard(
    diabetes_data: diabetes.Shard,
) -> None:
    split = diabetes.split(diabetes_data, validation_rows=42, shard_rows=[40] * 10, seed=1)

    parts = [split.validation, *split.shards]
    assert [p.row_count for p in parts] == [42] + [40] * 10
    all_rows = [rows_of(p) for p in parts]
    assert len(set().union(*all_rows)) == sum(len(r) for r in all_rows) == 442


def test_the_same_seed_gives_the_same_split_and_another_seed_another(
    diabetes_data: diabetes.Shard,
) -> None:
    first = diabetes.split(diabetes_data, validation_rows=10, shard_rows=[20], seed=5)
    again = diabetes.split(diabetes_data, validation_rows=10, shard_rows=[20], seed=5)
    other = diabetes.split(diabetes_data, validation_rows=10, shard_rows=[20], seed=6)

    np.testing.assert_array_equal(first.shards[0].features, again.shards[0].features)
    assert rows_of(first.shards[0]) != rows_of(other.shards[0])


def test_asking_for_more_rows_than_there_are_is_refused(diabetes_data: diabetes.Shard) -> None:
    with pytest.raises(ShapeMismatch) as raised:
        diabetes.split(diabetes_data, validation_rows=42, shard_rows=[400, 1], seed=0)

    assert raised.value.found == 443


def test_an_empty_shard_is_refused(diabetes_data: diabetes.Shard) -> None:
    with pytest.raises(ValueError, match="shards of >= 1 row"):
        diabetes.split(diabetes_data, validation_rows=0, shard_rows=[10, 0], seed=0)
