"""The mine's settings: options, MINE_* variables, and clear errors for what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from mine.config import MineConfig, ipfs_multiaddr
from mine.errors import ConfigError
from sonar.address import CONTRACT_ADDRESS

REQUIRED = {
    "MINE_RPC_URL": "http://127.0.0.1:8545",
    "MINE_IPFS_API": "/ip4/127.0.0.1/tcp/5001/http",
    "MINE_KEY_FILE": "/keys/mine.key",
    "MINE_DATA": "/data/shard.csv",
    "MINE_STATE_DIR": "/state",
}


def test_every_setting_can_come_from_its_variable_with_defaults_for_the_rest() -> None:
    config = MineConfig.from_args([], REQUIRED)

    assert config.rpc_url == "http://127.0.0.1:8545"
    assert config.ipfs_api == "/ip4/127.0.0.1/tcp/5001/http"
    assert (config.key_file, config.data, config.state_dir) == (
        Path("/keys/mine.key"),
        Path("/data/shard.csv"),
        Path("/state"),
    )
    assert config.contract == CONTRACT_ADDRESS
    assert (config.poll_interval, config.fetch_timeout) == (0.5, 10.0)
    assert config.accepted_key_bits == (2048, 3072)
    assert config.status_path == Path("/state/status.json")


def test_an_option_wins_over_its_variable() -> None:
    config = MineConfig.from_args(
        ["--rpc-url", "http://chain:8545", "--poll-interval", "2", "--accept-key-bits", "1024"],
        REQUIRED,
    )
    assert (config.rpc_url, config.poll_interval, config.accepted_key_bits) == (
        "http://chain:8545",
        2.0,
        (1024,),
    )


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_setting_names_its_option_and_variable(missing: str) -> None:
    environ = {key: value for key, value in REQUIRED.items() if key != missing}
    option = "--" + missing.removeprefix("MINE_").lower().replace("_", "-")
    with pytest.raises(ConfigError, match=f"missing {option} \\(or {missing}\\)"):
        MineConfig.from_args([], environ)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rpc-url", "127.0.0.1:8545"], "--rpc-url '127.0.0.1:8545' is not an http"),
        (["--ipfs-api", "ipfs:5001"], "--ipfs-api 'ipfs:5001' is neither a multiaddr"),
        (["--poll-interval", "0"], "--poll-interval must be positive"),
        (["--fetch-timeout", "soon"], "--fetch-timeout 'soon' is not a number"),
        (["--accept-key-bits", "512"], "key sizes must be among"),
        (["--log-level", "loud"], "--log-level 'loud' is not one of"),
    ],
)
def test_an_invalid_value_is_refused_with_its_option(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MineConfig.from_args(argv, REQUIRED)


def test_an_http_api_url_becomes_a_multiaddr() -> None:
    assert ipfs_multiaddr("http://127.0.0.1:5001") == "/ip4/127.0.0.1/tcp/5001/http"
    assert ipfs_multiaddr("http://ipfs-3:5001") == "/dns4/ipfs-3/tcp/5001/http"
    assert ipfs_multiaddr("/dns4/ipfs-3/tcp/5001/http") == "/dns4/ipfs-3/tcp/5001/http"


def config_with_key(tmp_path: Path, text: str, mode: int) -> MineConfig:
    key_file = tmp_path / "mine.key"
    key_file.write_text(text)
    key_file.chmod(mode)
    return MineConfig.from_args(["--key-file", str(key_file)], REQUIRED)


KEY = "0x" + "11" * 32  # a key for tests only, like anvil's well-known development keys


def test_the_account_comes_from_a_private_key_file(tmp_path: Path) -> None:
    config = config_with_key(tmp_path, KEY + "\n", 0o600)
    assert config.account().address == Account.from_key(KEY).address


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    config = config_with_key(tmp_path, KEY, 0o644)
    with pytest.raises(ConfigError, match="can be read by others .* chmod 600"):
        config.account()


def test_a_key_file_without_a_key_or_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not hold a hex private key"):
        config_with_key(tmp_path, "not a key", 0o600).account()
    missing = MineConfig.from_args(["--key-file", str(tmp_path / "none")], REQUIRED)
    with pytest.raises(ConfigError, match="No such file or directory"):
        missing.account()


def test_privacy_is_off_unless_an_epsilon_is_given_with_its_clipping_bounds() -> None:
    assert MineConfig.from_args([], REQUIRED).privacy is None
    config = MineConfig.from_args(
        ["--privacy-epsilon", "2", "--clip-feature-norm", "0.3", "--clip-target", "350"],
        REQUIRED,
    )
    assert config.privacy is not None
    assert (config.privacy.epsilon, config.privacy.delta, config.privacy.mechanism) == (
        2.0,
        1e-6,
        "gaussian",
    )
    laplace = MineConfig.from_args(
        [],
        {
            **REQUIRED,
            "MINE_PRIVACY_EPSILON": "1",
            "MINE_PRIVACY_MECHANISM": "laplace",
            "MINE_CLIP_FEATURE_NORM": "0.3",
            "MINE_CLIP_TARGET": "350",
        },
    )
    assert laplace.privacy is not None and laplace.privacy.delta == 0.0
    with pytest.raises(ConfigError, match="--privacy-epsilon needs --clip-feature-norm"):
        MineConfig.from_args(["--privacy-epsilon", "1"], REQUIRED)
    with pytest.raises(ConfigError, match="--clip-target needs --privacy-epsilon"):
        MineConfig.from_args(["--clip-target", "3"], REQUIRED)
    with pytest.raises(ConfigError, match="mechanism"):
        MineConfig.from_args(
            ["--privacy-epsilon", "1", "--clip-feature-norm", "1", "--clip-target", "1"]
            + ["--privacy-mechanism", "uniform"],
            REQUIRED,
        )
