from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from mine.errors import ConfigError, StateError
from mine.release import RELEASE_FILE, statistics_for
from pysonar import diabetes
from pysonar.model.gradient import ShardStatistics
from pysonar.model.privacy import PrivacyBudget

BUDGET = PrivacyBudget(
    epsilon=2.0, delta=1e-6, mechanism="gaussian", feature_norm=0.3, target_bound=350.0
)


@pytest.fixture(scope="module")
def shard() -> diabetes.Shard:
    return diabetes.split(diabetes.load(), validation_rows=0, shard_rows=[40], seed=2).shards[0]


def test_without_a_budget_the_mine_answers_from_its_exact_statistics(
    shard: diabetes.Shard, tmp_path: Path
) -> None:
    statistics, source = statistics_for(shard, None, tmp_path)
    exact = ShardStatistics.from_data(shard.features, shard.targets)
    assert np.array_equal(statistics.gram, exact.gram) and source == "exact statistics"
    assert not (tmp_path / RELEASE_FILE).exists()


def test_the_one_release_is_saved_privately_and_reused_after_a_restart(
    shard: diabetes.Shard, tmp_path: Path
) -> None:
    first, source = statistics_for(shard, BUDGET, tmp_path)
    assert source.startswith("a new private release")
    exact = ShardStatistics.from_data(shard.features, shard.targets)
    assert not np.allclose(first.moment, exact.moment)  # noised
    saved = tmp_path / RELEASE_FILE
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    again, source = statistics_for(shard, BUDGET, tmp_path)  # a restarted mine
    assert source.startswith("the private release saved")
    assert np.array_equal(again.gram, first.gram) and np.array_equal(again.moment, first.moment)
    assert again.gram_mantissas == first.gram_mantissas


def test_other_rows_or_another_budget_do_not_silently_release_again(
    shard: diabetes.Shard, tmp_path: Path
) -> None:
    statistics_for(shard, BUDGET, tmp_path)
    fewer = diabetes.Shard(features=shard.features[1:], targets=shard.targets[1:])
    with pytest.raises(ConfigError, match="spend the budget twice"):
        statistics_for(fewer, BUDGET, tmp_path)
    looser = PrivacyBudget(
        epsilon=8.0, delta=1e-6, mechanism="gaussian", feature_norm=0.3, target_bound=350.0
    )
    with pytest.raises(ConfigError, match="Delete the file"):
        statistics_for(shard, looser, tmp_path)


def test_a_damaged_or_shared_release_file_stops_the_mine(
    shard: diabetes.Shard, tmp_path: Path
) -> None:
    statistics_for(shard, BUDGET, tmp_path)
    saved = tmp_path / RELEASE_FILE
    saved.chmod(0o644)
    with pytest.raises(StateError, match="can be read by others"):
        statistics_for(shard, BUDGET, tmp_path)
    saved.chmod(0o600)
    saved.write_text('{"format": "hydrogen.mine-private-statistics"}')
    with pytest.raises(StateError, match="does not hold"):
        statistics_for(shard, BUDGET, tmp_path)
