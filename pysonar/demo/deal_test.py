from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np

from pysonar import diabetes
from pysonar.demo.deal import VALIDATION_ROWS, deal, main
from pysonar.rows import read_csv
from sonar.chain import dev_accounts


def test_each_party_gets_its_own_rows_and_key_and_no_mine_a_validation_row(
    tmp_path: Path,
) -> None:
    deal(tmp_path, mines=4, seed=3)

    validation = read_csv(tmp_path / "scientist" / "validation.csv")
    assert validation.row_count == VALIDATION_ROWS
    seen = {tuple(row) for row in validation.features}
    for index in range(1, 5):
        shard = read_csv(tmp_path / f"mine-{index}" / "rows.csv")
        rows = {tuple(row) for row in shard.features}
        assert rows.isdisjoint(seen), f"mine-{index} shares rows with another party"
        seen |= rows
    assert len(seen) == diabetes.load().row_count  # every row dealt once: 4 x 90 + 82

    accounts = dev_accounts(5)
    for index in range(0, 5):
        party = "scientist" if index == 0 else f"mine-{index}"
        key = tmp_path / party / "account.key"
        assert key.read_text().strip() == accounts[index].private_key
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


def test_the_same_seed_deals_the_same_bytes_and_the_reference_is_the_pooled_fit(
    tmp_path: Path,
) -> None:
    first = [p.read_bytes() for p in deal(tmp_path / "a", mines=3, seed=5)]
    second = [p.read_bytes() for p in deal(tmp_path / "b", mines=3, seed=5)]
    other = [p.read_bytes() for p in deal(tmp_path / "c", mines=3, seed=6)]
    assert first == second
    assert first != other
    reference = json.loads((tmp_path / "a" / "scientist" / "reference.json").read_text())
    assert reference["mines"] == 3 and reference["rows_per_mine"] == (442 - 82) // 3
    assert 2000 < reference["pooled_least_squares_mse"] < 4000
    assert np.isfinite(reference["pooled_least_squares_mse"])


def test_the_command_prints_each_mines_account(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["--out", str(tmp_path), "--mines", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"mine-2: account {dev_accounts(3)[2].address}" in printed
