"""The mine's settings: each from a command-line option or its environment variable.

Containers configure the mine by environment (MINE_RPC_URL, ...), people by options; an
option given on the command line wins. `MineConfig.from_args` parses both and names the
option and the variable of any setting that is missing or invalid.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount

from mine.errors import ConfigError
from pysonar.crypto.keys import SUPPORTED_KEY_BITS, TRUSTED_KEY_BITS
from pysonar.model.privacy import PrivacyBudget
from sonar.address import CONTRACT_ADDRESS

ENV_PREFIX = "MINE_"


@dataclass(frozen=True)
class MineConfig:
    """Everything a mine needs to run.

    Attributes:
        rpc_url: the chain's JSON-RPC URL.
        ipfs_api: the mine's own IPFS node's API, as a multiaddr.
        key_file: a file holding the mine's account key (hex).
        data: the mine's CSV shard.
        state_dir: where its SQLite state, status file and gradients' record live.
        contract: the ModelRepository address.
        poll_interval: seconds between looks at the chain when idle.
        fetch_timeout: seconds one model fetch may take.
        accepted_key_bits: Paillier key sizes of models it answers.
        log_level: the logging level name.
        privacy: the differential-privacy budget and clipping bounds of its one release of
            statistics (`mine.release`), or None to answer from exact statistics.
    """

    rpc_url: str
    ipfs_api: str
    key_file: Path
    data: Path
    state_dir: Path
    contract: str = CONTRACT_ADDRESS
    poll_interval: float = 0.5
    fetch_timeout: float = 10.0
    accepted_key_bits: tuple[int, ...] = TRUSTED_KEY_BITS
    log_level: str = "INFO"
    privacy: PrivacyBudget | None = None

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def database_path(self) -> Path:
        return self.state_dir / "mine.sqlite3"

    @classmethod
    def from_args(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> MineConfig:
        """Parses options, falling back on MINE_* variables.

        Raises:
            ConfigError: a required setting is missing, or a value is invalid.
            SystemExit: for --help and unknown options (argparse's exit code 2).
        """
        environ = os.environ if environ is None else environ
        args = _parser().parse_args(argv)
        values = {}
        for option in _OPTIONS:
            value = getattr(args, option.dest)
            if value is None:
                value = environ.get(option.variable) or option.default
            if value is None and not option.optional:
                raise ConfigError(f"missing {option.flag} (or {option.variable}): {option.help}")
            values[option.dest] = value
        try:
            return cls(
                rpc_url=_http_url(values["rpc_url"], "--rpc-url"),
                ipfs_api=ipfs_multiaddr(values["ipfs_api"]),
                key_file=Path(values["key_file"]),
                data=Path(values["data"]),
                state_dir=Path(values["state_dir"]),
                contract=values["contract"],
                poll_interval=_positive(values["poll_interval"], "--poll-interval"),
                fetch_timeout=_positive(values["fetch_timeout"], "--fetch-timeout"),
                accepted_key_bits=_key_bits(values["accept_key_bits"]),
                log_level=_log_level(values["log_level"]),
                privacy=_privacy(values),
            )
        except ValueError as error:
            raise ConfigError(str(error)) from error

    def account(self) -> LocalAccount:
        """The mine's account, from its key file.

        Raises:
            ConfigError: the file is missing or does not hold a private key.
        """
        try:
            text = self.key_file.read_text().strip()
            mode = self.key_file.stat().st_mode
        except OSError as error:
            raise ConfigError(f"--key-file {self.key_file}: {error.strerror or error}") from error
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"--key-file {self.key_file} can be read by others (mode "
                f"{stat.S_IMODE(mode):o}); make it private: chmod 600 {self.key_file}"
            )
        try:
            return Account.from_key(text)
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"--key-file {self.key_file} does not hold a hex private key: {error}"
            ) from None


@dataclass(frozen=True)
class _Option:
    flag: str
    help: str
    default: str | None = None
    optional: bool = False

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.dest.upper()


_OPTIONS = (
    _Option("--rpc-url", "the chain's JSON-RPC URL, e.g. http://127.0.0.1:8545"),
    _Option("--ipfs-api", "the mine's IPFS API, e.g. /ip4/127.0.0.1/tcp/5001/http"),
    _Option("--key-file", "a file (mode 600) holding the mine's private key in hex"),
    _Option("--data", "the mine's CSV shard: feature columns, then target"),
    _Option("--state-dir", "a directory for the mine's state, kept across restarts"),
    _Option("--contract", "the ModelRepository address", CONTRACT_ADDRESS),
    _Option("--poll-interval", "seconds between looks at the chain when idle", "0.5"),
    _Option("--fetch-timeout", "seconds one model fetch may take", "10"),
    _Option(
        "--accept-key-bits",
        "comma-separated Paillier key sizes of models to answer",
        ",".join(str(bits) for bits in TRUSTED_KEY_BITS),
    ),
    _Option("--log-level", "DEBUG, INFO, WARNING or ERROR", "INFO"),
    _Option(
        "--privacy-epsilon",
        "turns on differential privacy: the epsilon of the mine's one noisy release of its "
        "statistics, reused for every model version (off by default)",
        optional=True,
    ),
    _Option("--privacy-delta", "the delta of Gaussian noise (Laplace noise has none)", "1e-6"),
    _Option("--privacy-mechanism", "gaussian or laplace", "gaussian"),
    _Option(
        "--clip-feature-norm",
        "with --privacy-epsilon: each row's features are scaled to at most this L2 norm",
        optional=True,
    ),
    _Option(
        "--clip-target",
        "with --privacy-epsilon: each target is clipped to [-this, this]",
        optional=True,
    ),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mine",
        description=(
            "A Hydrogen mine: answers every open model's current version with an encrypted "
            "gradient computed on this data owner's rows, which never leave this process. "
            "Every option may be given as its MINE_* environment variable instead."
        ),
    )
    for option in _OPTIONS:
        default = f" (default {option.default})" if option.default is not None else ""
        parser.add_argument(
            option.flag, default=None, help=f"{option.help}{default}; env {option.variable}"
        )
    return parser


def ipfs_multiaddr(value: str) -> str:
    """The API address as the multiaddr the IPFS client takes; http://host:port is accepted.

    Raises:
        ValueError: neither a multiaddr nor an http URL with a port.
    """
    if value.startswith("/"):
        return value
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(
            f"--ipfs-api {value!r} is neither a multiaddr (/ip4/127.0.0.1/tcp/5001/http) nor "
            "an http://host:port URL"
        )
    try:
        protocol = "ip6" if ipaddress.ip_address(parts.hostname).version == 6 else "ip4"
    except ValueError:
        protocol = "dns4"
    return f"/{protocol}/{parts.hostname}/tcp/{parts.port}/http"


def _http_url(value: str, flag: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{flag} {value!r} is not an http(s) URL")
    return value


def _positive(value: str, flag: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{flag} {value!r} is not a number") from None
    if not number > 0:
        raise ValueError(f"{flag} must be positive, not {value}")
    return number


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"--log-level {value!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return level


def _privacy(values: Mapping[str, str | None]) -> PrivacyBudget | None:
    """The budget, from --privacy-epsilon and the options that go with it, or None."""
    if values["privacy_epsilon"] is None:
        for dest in ("clip_feature_norm", "clip_target"):
            if values[dest] is not None:
                raise ValueError(f"--{dest.replace('_', '-')} needs --privacy-epsilon")
        return None
    for dest in ("clip_feature_norm", "clip_target"):
        if values[dest] is None:
            raise ValueError(
                f"--privacy-epsilon needs --{dest.replace('_', '-')}: the noise is calibrated "
                "to the clipping bounds (README, the mine's privacy)"
            )
    mechanism = str(values["privacy_mechanism"]).lower()
    return PrivacyBudget(
        epsilon=_positive(str(values["privacy_epsilon"]), "--privacy-epsilon"),
        delta=0.0 if mechanism == "laplace" else float(str(values["privacy_delta"])),
        mechanism=mechanism,  # type: ignore[arg-type]  # PrivacyBudget checks it
        feature_norm=_positive(str(values["clip_feature_norm"]), "--clip-feature-norm"),
        target_bound=_positive(str(values["clip_target"]), "--clip-target"),
    )


def _key_bits(value: str) -> tuple[int, ...]:
    try:
        bits = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise ValueError(f"--accept-key-bits {value!r} is not a list of integers") from None
    unsupported = [b for b in bits if b not in SUPPORTED_KEY_BITS]
    if unsupported or not bits:
        raise ValueError(
            f"--accept-key-bits {value!r}: key sizes must be among {list(SUPPORTED_KEY_BITS)}"
        )
    return bits
