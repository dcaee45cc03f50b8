"""Seeding the data scientist's notebook directory: the image's notebooks once, edits kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from images.pysonar.start_notebook import NotebookDirError, seed_notebooks


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    directory = tmp_path / "shipped"
    directory.mkdir()
    (directory / "hydrogen.ipynb").write_text('{"cells": ["the image\'s"]}')
    (directory / "README.md").write_text("# notebooks")
    return directory


def test_the_first_start_copies_every_notebook_the_image_ships(
    shipped: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "work"
    workspace.mkdir()

    assert seed_notebooks(workspace, shipped) == ["README.md", "hydrogen.ipynb"]
    assert (workspace / "hydrogen.ipynb").read_text() == '{"cells": ["the image\'s"]}'
    assert sorted(p.name for p in workspace.iterdir()) == ["README.md", "hydrogen.ipynb"]


def test_an_edited_notebook_survives_every_later_start(shipped: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "work"
    workspace.mkdir()
    seed_notebooks(workspace, shipped)
    (workspace / "hydrogen.ipynb").write_text('{"cells": ["mine"]}')
    (workspace / "README.md").unlink()

    assert seed_notebooks(workspace, shipped) == ["README.md"]  # a deleted one comes back
    assert (workspace / "hydrogen.ipynb").read_text() == '{"cells": ["mine"]}'


def test_a_missing_directory_is_refused_with_the_way_out(shipped: Path, tmp_path: Path) -> None:
    with pytest.raises(NotebookDirError, match="missing or not writable .* mount a volume"):
        seed_notebooks(tmp_path / "absent", shipped)


def test_a_file_where_the_directory_should_be_is_refused(shipped: Path, tmp_path: Path) -> None:
    (tmp_path / "work").write_text("not a directory")

    with pytest.raises(NotebookDirError):
        seed_notebooks(tmp_path / "work", shipped)
