"""The container engine the image and platform tests run against, and how they load images.

The engine is whatever DOCKER_HOST names (Docker Engine, or Podman's Docker API). Without
one the tests skip, saying how to start one, unless HYDROGEN_REQUIRE_DOCKER=1 (as `.ci/run`
sets), which makes a missing engine a failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

HOW_TO_START = (
    "no container engine at DOCKER_HOST={host!r} ({error}). Start one, e.g. Debian's "
    "docker.io as root: dockerd --host unix:///run/hydrogen-docker.sock "
    "--data-root /var/lib/hydrogen-docker --exec-root /run/hydrogen-docker-exec "
    "--pidfile /run/hydrogen-docker.pid & export DOCKER_HOST=unix:///run/hydrogen-docker.sock"
)
IMAGES = {
    "sonar": "hydrogen/sonar:0.1.0",
    "ipfs": "hydrogen/ipfs:0.1.0",
    "mine": "hydrogen/mine:0.1.0",
    "pysonar": "hydrogen/pysonar:0.1.0",
}


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect_or_skip() -> docker.DockerClient:
    """A client of the engine; skips the test (fails it under HYDROGEN_REQUIRE_DOCKER=1)
    when there is none."""
    host = docker_host()
    try:
        client = docker.DockerClient(base_url=host, timeout=300)
        client.ping()
    except Exception as error:  # any failure to reach the engine means the same here
        message = HOW_TO_START.format(host=host, error=error)
        if os.environ.get("HYDROGEN_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return client


def archive_of(name: str) -> Path:
    """The archive the build wrote for image `name` (a runtime package dependency)."""
    (path,) = Path.cwd().glob(f"images.{name}/{name}.tar")
    return path


def load_images(client: docker.DockerClient) -> dict[str, str]:
    """Loads every image archive; returns each image's ID as the engine reports it.

    Images are left loaded: the tests of one run load the same bytes under the same tags,
    and removing them would pull them from under another test's containers.
    """
    ids = {}
    for name, reference in IMAGES.items():
        (image,) = client.images.load(archive_of(name).read_bytes())
        assert reference in image.tags
        ids[name] = image.id
    return ids


def wait_healthy(container: Container, timeout: float = 120) -> None:
    """Waits for the container's healthcheck to pass; fails with its log if it exits or
    takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        health = container.attrs["State"].get("Health", {}).get("Status")
        if health == "healthy":
            return
        if container.status == "exited":
            raise AssertionError(f"{container.name} exited:\n{container.logs().decode()}")
        time.sleep(0.5)
    raise AssertionError(
        f"{container.name} not healthy in {timeout} s:\n{container.logs().decode()}"
    )
