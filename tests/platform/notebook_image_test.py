"""The notebook image alone (`docker run`, the roadmap's step-by-step form), in Chromium.

A person runs `docker run -p 127.0.0.1:<port>:8888 -v <volume>:/home/nonroot/notebooks
hydrogen/pysonar:0.1.0`, copies the tokened URL from the log and opens it: the file
browser, the notebook and JupyterLab render; a cell runs; an edit is saved, and is still
there after a reload and in a new container on the same volume. No request the pages make
fails, and Jupyter's log shows none refused. The container and the volume are removed at
the end, whatever the outcome; the screenshots are kept (see `browser.artifact`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container
from playwright.sync_api import Browser

from images.engine import IMAGES, archive_of, connect_or_skip, wait_healthy
from tests.platform.browser import (
    JupyterPage,
    cell_sources,
    chromium,
    errors_in_log,
    token_from_log,
)

NOTEBOOK_DIR = "/home/nonroot/notebooks"
LABEL = {"io.hydrogen.test": "notebook_image_test"}


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = connect_or_skip()
    (image,) = client.images.load(archive_of("pysonar").read_bytes())
    assert IMAGES["pysonar"] in image.tags
    yield client
    for container in client.containers.list(all=True, filters={"label": "io.hydrogen.test"}):
        if container.labels.get("io.hydrogen.test") == LABEL["io.hydrogen.test"]:
            container.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def volume(engine: docker.DockerClient) -> Iterator[str]:
    name = f"hydrogen-notebooks-test-{uuid.uuid4().hex[:8]}"
    yield name
    engine.volumes.get(name).remove(force=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def start_notebook(engine: docker.DockerClient, volume: str) -> Container:
    """`docker run` as the README says; returns the container once its healthcheck passes."""
    container = engine.containers.run(
        IMAGES["pysonar"],
        detach=True,
        labels=LABEL,
        ports={"8888/tcp": ("127.0.0.1", None)},
        volumes={volume: {"bind": NOTEBOOK_DIR, "mode": "rw"}},
    )
    wait_healthy(container)
    return container


def log_of(container: Container) -> str:
    return container.logs().decode(errors="replace")


@pytest.fixture(scope="module")
def notebook(engine: docker.DockerClient, volume: str) -> Iterator[Container]:
    container = start_notebook(engine, volume)
    yield container
    with contextlib.suppress(docker.errors.NotFound):  # the test replaced it
        container.remove(force=True)


def page_on(browser: Browser, container: Container) -> JupyterPage:
    container.reload()
    port = container.ports["8888/tcp"][0]["HostPort"]
    return JupyterPage(
        browser.new_page(viewport={"width": 1400, "height": 1000}),
        base_url=f"http://127.0.0.1:{port}",
        token=token_from_log(log_of(container)),
    )


def test_the_file_browser_the_notebook_and_jupyterlab_render(
    browser: Browser, notebook: Container
) -> None:
    jupyter = page_on(browser, notebook)

    assert {"hydrogen.ipynb", "README.md"} <= set(jupyter.open_tree())
    jupyter.screenshot("notebook-image-tree.png")
    assert jupyter.open_notebook("hydrogen.ipynb") >= 18  # every cell, markdown and code
    assert jupyter.page.get_by_text("Python 3 (pysonar)").first.is_visible()
    jupyter.screenshot("notebook-image-notebook.png")
    assert "Python 3 (pysonar)" in jupyter.open_lab()
    assert "Terminal" not in jupyter.page.locator(".jp-Launcher").inner_text()  # no shell
    jupyter.screenshot("notebook-image-lab.png")
    # Nothing leaves the machine: the front end never asks to fetch Jupyter's news.
    notification = jupyter.setting_defaults("@jupyterlab/apputils-extension:notification")
    assert (notification["fetchNews"], notification["checkForUpdates"]) == ("false", False)

    jupyter.assert_no_failed_requests()
    assert errors_in_log(log_of(notebook)) == []


def test_a_cell_runs_and_an_edit_is_saved_and_kept_in_a_new_container_on_the_volume(
    engine: docker.DockerClient, browser: Browser, notebook: Container, volume: str
) -> None:
    marker = f"saved from the browser {uuid.uuid4().hex[:8]}"
    jupyter = page_on(browser, notebook)
    jupyter.open_notebook("hydrogen.ipynb")

    jupyter.append_cell_and_run(f"print({marker!r}, 6 * 7)", f"{marker} 42")
    saved = jupyter.save("hydrogen.ipynb")
    assert any(marker in source for source in cell_sources(saved))
    jupyter.page.reload()
    jupyter.page.get_by_text(f"{marker} 42").first.wait_for()
    jupyter.assert_no_failed_requests()
    jupyter.leave()

    # The container goes; a new one on the same volume keeps the edit, not the image's copy.
    notebook.remove(force=True)
    again = start_notebook(engine, volume)
    try:
        reopened = page_on(browser, again)
        reopened.open_notebook("hydrogen.ipynb")
        reopened.page.get_by_text(marker).first.wait_for()
        assert any(
            marker in s for s in cell_sources(reopened.contents("hydrogen.ipynb")["content"])
        )
        reopened.assert_no_failed_requests()
        assert "copied the image's hydrogen.ipynb" not in log_of(again)
        assert errors_in_log(log_of(again)) == []
    finally:
        again.remove(force=True)
