"""The hydrogen/pysonar image's entry point: Jupyter over the data scientist's notebook directory.

The notebooks the image ships (`/app/pysonar/notebooks`) are read-only and belong to the
image; the data scientist works in `HYDROGEN_NOTEBOOK_DIR` (`/home/nonroot/notebooks`, a
volume in compose), which Jupyter serves and saves to. On every start each notebook the
image ships is copied there unless a file of that name is already there: the first start
seeds the directory, and a notebook the data scientist edited is never overwritten (to get
the image's copy back, rename or delete yours and restart). The rest of Jupyter's settings
are the image's `jupyter_server_config.py`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

SHIPPED = Path("/app/pysonar/notebooks")
DEFAULT_NOTEBOOK_DIR = "/home/nonroot/notebooks"


class NotebookDirError(Exception):
    """The notebook directory cannot hold the data scientist's notebooks."""


def seed_notebooks(workspace: Path, shipped: Path) -> list[str]:
    """Copies each file of `shipped` into `workspace` unless `workspace` has one of that
    name; returns the names copied.

    A copy is written beside its target and linked into place: a crash leaves no half
    notebook, and a file that appears meanwhile is kept, not replaced.

    Raises:
        NotebookDirError: `workspace` is missing or not writable.
    """
    if not workspace.is_dir() or not os.access(workspace, os.W_OK | os.X_OK):
        raise NotebookDirError(
            f"the notebook directory {workspace} is missing or not writable by uid "
            f"{os.getuid()}: mount a volume there (docker run -v hydrogen-notebooks:"
            f"{workspace} ...), or give a host directory to uid {os.getuid()}"
        )
    copied = []
    for original in sorted(shipped.iterdir()):
        target = workspace / original.name
        if not original.is_file() or target.exists() or target.is_symlink():
            continue
        partial = workspace / f".{original.name}.seeding"
        partial.write_bytes(original.read_bytes())
        try:
            os.link(partial, target)
            copied.append(original.name)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return copied


def main(argv: Sequence[str] | None = None) -> int:
    from notebook.app import main as notebook_main  # Jupyter's own start, after the seeding

    workspace = Path(os.environ.get("HYDROGEN_NOTEBOOK_DIR", DEFAULT_NOTEBOOK_DIR))
    try:
        copied = seed_notebooks(workspace, SHIPPED)
    except NotebookDirError as error:
        print(f"start_notebook: {error}", file=sys.stderr)
        return 1
    for name in copied:
        print(f"start_notebook: copied the image's {name} into {workspace}", file=sys.stderr)
    arguments = list(sys.argv[1:] if argv is None else argv)
    return notebook_main([f"--ServerApp.root_dir={workspace}", *arguments]) or 0


if __name__ == "__main__":
    sys.exit(main())
