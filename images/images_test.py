"""The four images, loaded into a real container engine and run.

The archives are the build's own (`runtime_package_dependencies` in BUILD). The engine is
whatever DOCKER_HOST names (Docker Engine, or Podman's Docker API); without one every test
skips, saying how to start one, unless HYDROGEN_REQUIRE_DOCKER=1 (as `.ci/run` sets), which
makes a missing engine a failure. Every container is removed when the tests end, whatever their
outcome; the images stay loaded (see `images.engine.load_images`).
"""

from __future__ import annotations

import json
import tarfile
import urllib.request
from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container
from web3 import Web3

from images.engine import IMAGES, archive_of, connect_or_skip, load_images, wait_healthy
from pysonar.ipfs import IpfsClient
from sonar.address import CONTRACT_ADDRESS
from sonar.chain import dev_accounts
from sonar.chain.accounts import DEV_BALANCE_WEI
from sonar.chain.genesis import model_repository
from sonar.client import ModelRepository

LABEL = "io.hydrogen.test=images_test"


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = connect_or_skip()
    yield client
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        container.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def loaded(engine: docker.DockerClient) -> dict[str, str]:
    return load_images(engine)


def run(engine: docker.DockerClient, name: str, **options: object) -> Container:
    return engine.containers.run(
        IMAGES[name], detach=True, labels={"io.hydrogen.test": "images_test"}, **options
    )


def published_port(container: Container, port: str) -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def test_each_image_loads_with_its_tag_and_the_id_its_archive_names(
    loaded: dict[str, str],
) -> None:
    for name, image_id in loaded.items():
        with tarfile.open(archive_of(name)) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert image_id == "sha256:" + manifest[0]["Config"].rsplit("/", 1)[1]


def test_sonar_serves_the_chain_with_the_contract_at_its_address(
    engine: docker.DockerClient, loaded: dict[str, str]
) -> None:
    container = run(engine, "sonar", ports={"8545/tcp": ("127.0.0.1", None)})
    wait_healthy(container)
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{published_port(container, '8545/tcp')}"))

    assert w3.eth.chain_id == 31337
    assert w3.eth.get_code(CONTRACT_ADDRESS).to_0x_hex() == model_repository().deployed_bytecode
    assert ModelRepository(w3).model_count() == 0
    # The data scientist and up to 30 mines (the compose platform's 10 included) are funded.
    accounts = dev_accounts(31)
    assert {w3.eth.get_balance(a.address) for a in accounts} == {DEV_BALANCE_WEI}
    container.reload()
    assert container.attrs["Config"]["User"] == "65532:65532"


def test_ipfs_adds_and_cats_an_object(engine: docker.DockerClient, loaded: dict[str, str]) -> None:
    container = run(engine, "ipfs", ports={"5001/tcp": ("127.0.0.1", None)})
    wait_healthy(container)
    api = f"/ip4/127.0.0.1/tcp/{published_port(container, '5001/tcp')}/http"
    with IpfsClient(api) as client:
        cid = client.add(b"kept by the container's node")
        assert client.cat(cid, timeout=10, max_bytes=100) == b"kept by the container's node"
        assert client.identity().addresses, "it listens on its swarm port"


def test_the_mine_prints_its_version_and_names_what_is_missing(
    engine: docker.DockerClient, loaded: dict[str, str]
) -> None:
    version = engine.containers.run(IMAGES["mine"], ["--version"], remove=True)
    assert version == b"mine 0.1.0 (Hydrogen)\n"

    container = run(engine, "mine")
    assert container.wait(timeout=120)["StatusCode"] == 1
    assert b"mine: missing --rpc-url (or MINE_RPC_URL)" in container.logs(stdout=False, stderr=True)


def test_the_notebook_image_also_deals_the_platforms_rows(
    engine: docker.DockerClient, loaded: dict[str, str]
) -> None:
    """docker-compose.yml's `deal` job runs pysonar.demo.deal from the notebook's PEX."""
    usage = engine.containers.run(
        IMAGES["pysonar"],
        ["--help"],
        entrypoint=["/usr/bin/python3.11", "/app/lab"],
        environment={"PEX_MODULE": "pysonar.demo.deal"},
        remove=True,
    )
    assert b"--mines" in usage and b"--owner" in usage


# Loads every ELF file under /app in the image's own Python: the build strips binaries, and
# a binary strip broke would fail here, not in some later import. The process ends with
# os._exit: a library loaded bare (debugpy's, for one) crashes Python's finalization.
LOAD_EVERY_BINARY = """
import ctypes, os
loaded = 0
for root, _, names in os.walk("/app"):
    for name in sorted(names):
        path = os.path.join(root, name)
        with open(path, "rb") as file:
            if os.path.islink(path) or file.read(4) != b"\\x7fELF":
                continue
        try:
            ctypes.CDLL(path)
        except OSError as error:
            print(f"{path}: {error}", flush=True)
            os._exit(1)
        loaded += 1
print(loaded, flush=True)
os._exit(0)
"""


@pytest.mark.parametrize("name", ["mine", "pysonar"])
def test_every_binary_the_app_carries_loads(
    engine: docker.DockerClient, loaded: dict[str, str], name: str
) -> None:
    output = engine.containers.run(
        IMAGES[name],
        ["-c", LOAD_EVERY_BINARY],
        entrypoint=["/usr/bin/python3.11"],
        remove=True,
    )
    assert int(output) > 20, "the app carries binaries: numpy's, gmpy2's at least"


def test_jupyter_answers_on_8888_and_serves_the_pysonar_kernel(
    engine: docker.DockerClient, loaded: dict[str, str]
) -> None:
    container = run(
        engine,
        "pysonar",
        ports={"8888/tcp": ("127.0.0.1", None)},
        environment={"JUPYTER_TOKEN": "images-test"},
    )
    wait_healthy(container)
    base = f"http://127.0.0.1:{published_port(container, '8888/tcp')}"
    with urllib.request.urlopen(f"{base}/api", timeout=10) as response:
        assert "version" in json.load(response)
    request = urllib.request.Request(
        f"{base}/api/kernelspecs", headers={"Authorization": "token images-test"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        specs = json.load(response)
    assert specs["default"] == "python3"
    assert specs["kernelspecs"]["python3"]["spec"]["env"] == {"PEX_MODULE": "ipykernel_launcher"}
    with pytest.raises(urllib.error.HTTPError) as refused:  # no token, no access
        urllib.request.urlopen(f"{base}/api/kernelspecs", timeout=10)
    assert refused.value.code == 403
