"""`mine`: run one data owner's daemon until SIGTERM or Ctrl-C.

    ./pants run mine -- --rpc-url http://127.0.0.1:8545 --ipfs-api /ip4/127.0.0.1/tcp/5001/http \\
        --key-file mine.key --data shard.csv --state-dir state/
    python -m mine ...          # the same; every option may be a MINE_* variable instead
    mine --version
    mine --check-health         # for a container: 0 while the mine runs (MINE_STATE_DIR)

Exit codes: 0 once stopped by SIGTERM or SIGINT (within a second: the state is safe to leave
at any point), 1 if it cannot start (configuration, key, data, state) or fails, 2 for
unknown options.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from mine import __version__
from mine.config import MineConfig
from mine.daemon import Mine, Stopping, connect_repository
from mine.errors import MineError
from mine.health import check_health
from mine.release import statistics_for
from mine.state import MineState
from mine.status import Status, StatusFile
from mine.structured_log import configure
from pysonar.errors import RowsFileError
from pysonar.ipfs import IpfsClient
from pysonar.rows import read_csv

EXIT_STOPPED = 0
EXIT_FAILED = 1

logger = logging.getLogger("mine")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs a mine; returns its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--version"]:
        print(f"mine {__version__} (Hydrogen)")
        return EXIT_STOPPED
    if arguments[:1] == ["--check-health"]:
        return check_health(arguments[1:])
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            stop.set()
            raise Stopping

    # Set explicitly: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    status: StatusFile | None = None
    try:
        config = MineConfig.from_args(argv)
        account = config.account()
        configure(account.address, config.log_level)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        status = StatusFile(config.status_path, Status(state="starting", mine=account.address))
        status.update()
        shard = read_csv(config.data)
        statistics, source = statistics_for(shard, config.privacy, config.state_dir)
        with (
            MineState(config.database_path, account=account.address) as state,
            IpfsClient(config.ipfs_api) as ipfs,
        ):
            mine = Mine(
                repository=connect_repository(config.rpc_url, account, config.contract),
                ipfs=ipfs,
                statistics=statistics,
                state=state,
                status=status,
                fetch_timeout=config.fetch_timeout,
                accepted_key_bits=config.accepted_key_bits,
                stop=stop,
            )
            logger.info(
                "mine started: %d rows of %d features, answering from %s, state in %s, "
                "chain %s, IPFS %s",
                shard.row_count,
                shard.features.shape[1],
                source,
                config.state_dir,
                config.rpc_url,
                config.ipfs_api,
                extra={"event": "started"},
            )
            mine.run(poll_interval=config.poll_interval)
    except Stopping:
        pass
    except (MineError, RowsFileError) as error:
        print(f"mine: {error}", file=sys.stderr)
        if status is not None:
            status.update(state="failed", last=str(error))
        return EXIT_FAILED
    except Exception as error:  # the daemon's top level: log it, leave a failed status
        logger.exception("the mine failed", extra={"event": "failed"})
        if status is not None:
            status.update(state="failed", last=f"{type(error).__name__}: {error}")
        return EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if status is not None:
        status.update(state="stopped")
    logger.info("mine stopped", extra={"event": "stopped"})
    return EXIT_STOPPED


if __name__ == "__main__":
    sys.exit(main())
