"""The statistics a mine answers from: exact, or its ONE private release, kept across restarts.

In differential-privacy mode (`--privacy-epsilon`) the mine's statistics are released once
with calibrated noise (`pysonar.model.privacy`) and every model version is answered from
that release, so the total leakage over any number of rounds is that of one release. A
second draw would be a second release and spend the budget again, so the release is
written to `private-statistics.json` in the state directory (mode 600, before the first
gradient) and read back on every start. If the rows or the budget changed since, the mine
refuses to start rather than silently release again: the operator deletes the file to
accept a new release.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict
from pathlib import Path

import numpy as np

from mine.errors import ConfigError, StateError
from pysonar.errors import PySonarError
from pysonar.formats.strict_json import parse_object
from pysonar.model.gradient import ShardStatistics
from pysonar.model.privacy import PrivacyBudget, private_statistics
from pysonar.private_file import read_private_file, write_private_file
from pysonar.rows import Shard

RELEASE_FORMAT = "hydrogen.mine-private-statistics"
RELEASE_FILE = "private-statistics.json"
MAX_RELEASE_BYTES = 1024 * 1024


def statistics_for(
    shard: Shard, budget: PrivacyBudget | None, state_dir: Path
) -> tuple[ShardStatistics, str]:
    """The statistics to answer from, and how they were obtained (for the log).

    Raises:
        ConfigError: the saved release is for other rows or another budget.
        StateError: the saved release cannot be read, is readable by others, or is malformed.
    """
    if budget is None:
        return ShardStatistics.from_data(shard.features, shard.targets), "exact statistics"
    path = state_dir / RELEASE_FILE
    fingerprint = _fingerprint(shard)
    if path.exists():
        saved = _read(path)
        if saved["rows_sha256"] != fingerprint or saved["budget"] != asdict(budget):
            raise ConfigError(
                f"{path} holds the private release of other rows or another budget "
                f"({saved['budget']}); releasing again would spend the budget twice. Delete "
                "the file to accept a new release."
            )
        try:
            statistics = ShardStatistics.from_moments(
                np.array(saved["gram"], dtype=np.float64),
                np.array(saved["moment"], dtype=np.float64),
                int(saved["row_count"]),
            )
        except (PySonarError, ValueError, TypeError) as error:
            raise StateError(f"{path}: not a valid release: {error}") from error
        return statistics, f"the private release saved in {path}"
    rng = np.random.default_rng(secrets.randbits(128))
    statistics = private_statistics(shard.features, shard.targets, budget, rng=rng)
    body = {
        "format": RELEASE_FORMAT,
        "rows_sha256": fingerprint,
        "budget": asdict(budget),
        "row_count": statistics.row_count,
        "gram": statistics.gram.tolist(),
        "moment": statistics.moment.tolist(),
    }
    write_private_file(path, json.dumps(body, sort_keys=True).encode())
    return statistics, f"a new private release, saved in {path}"


def _fingerprint(shard: Shard) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(shard.features, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(shard.targets, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _read(path: Path) -> dict:
    try:
        data = read_private_file(path, max_bytes=MAX_RELEASE_BYTES)
        body = parse_object(data, kind="private statistics", max_bytes=MAX_RELEASE_BYTES)
    except PySonarError as error:
        raise StateError(f"{path}: not a valid release: {error}") from error
    expected = {"format", "rows_sha256", "budget", "row_count", "gram", "moment"}
    if set(body) != expected or body["format"] != RELEASE_FORMAT:
        raise StateError(f"{path}: does not hold a {RELEASE_FORMAT} object")
    return body
