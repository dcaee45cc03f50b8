"""`package` for `oci_image`: download the locked Debian packages, gather the app, assemble.

Each locked package is downloaded with Pants' `DownloadFile`, which refuses a file whose
size or sha256 differs from the lock; a package the mirror no longer has fails the build
with one message that says to re-lock. The app layer is the image's dependencies (built
packages and files). The assembly itself (`scripts/assemble_image.py`) is a process like
any other: the same inputs give the same archive, byte for byte, from the cache or not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import EntryPoint
from pants.backend.python.util_rules import pex
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.core.util_rules.system_binaries import (
    SEARCH_PATHS,
    BinaryPath,
    BinaryPathRequest,
    BinaryPaths,
    BinaryPathTest,
)
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    DownloadFile,
    FileContent,
    FileDigest,
    MergeDigests,
    PathGlobs,
)
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    FieldSetsPerTarget,
    FieldSetsPerTargetRequest,
    SourcesField,
    Targets,
)
from pants.engine.unions import UnionRule
from pants.option.global_options import GlobMatchErrorBehavior
from pants.util.logging import LogLevel
from pants.util.resources import read_resource

from oci.subsystem import Oci
from oci.target_types import (
    OciCmdField,
    OciDebianImageField,
    OciDependenciesField,
    OciEntrypointField,
    OciEnvField,
    OciExcludesField,
    OciHealthcheckField,
    OciLabelsField,
    OciNodeFilesField,
    OciNodePackagesField,
    OciOutputPathField,
    OciPortsField,
    OciRepositoryField,
    OciTagField,
    OciUserField,
    OciWheelDataPrefixField,
    OciWorkdirField,
    OciWritableField,
)

# The assembler and its modules, shipped as resources and run as `oci.scripts.assemble_image`.
_SCRIPTS = ("assemble_image.py", "layers.py", "app_files.py")
LOCK_FORMAT = "hydrogen.debian-lock/1"


class ImageBuildError(Exception):
    """An image cannot be built as declared; the message says what to do."""


@dataclass(frozen=True)
class OciImageFieldSet(PackageFieldSet):
    required_fields = (OciRepositoryField, OciDebianImageField, OciEntrypointField)

    repository: OciRepositoryField
    tag: OciTagField
    debian_image: OciDebianImageField
    dependencies: OciDependenciesField
    node_packages: OciNodePackagesField
    node_files: OciNodeFilesField
    entrypoint: OciEntrypointField
    cmd: OciCmdField
    env: OciEnvField
    user: OciUserField
    workdir: OciWorkdirField
    writable: OciWritableField
    wheel_data_prefix: OciWheelDataPrefixField
    excludes: OciExcludesField
    ports: OciPortsField
    healthcheck: OciHealthcheckField
    labels: OciLabelsField
    output_path: OciOutputPathField


@dataclass(frozen=True)
class ImageAssembler:
    pex: VenvPex


@dataclass(frozen=True)
class Strip:
    """GNU strip, found on the machine; its version is part of every image's inputs."""

    binary: BinaryPath


@rule(desc="Set up the image assembler", level=LogLevel.DEBUG)
async def setup_assembler(python_setup: PythonSetup) -> ImageAssembler:
    files = []
    for name in _SCRIPTS:
        content = read_resource("oci.scripts", name)
        if not content:
            raise ImageBuildError(f"the oci backend is missing its resource {name}")
        files.append(FileContent(f"oci/scripts/{name}", content))
    scripts = await Get(Digest, CreateDigest(files))
    assembler = await Get(
        VenvPex,
        PexRequest(
            output_filename="assemble_image.pex",
            internal_only=True,
            interpreter_constraints=InterpreterConstraints(python_setup.interpreter_constraints),
            main=EntryPoint("oci.scripts.assemble_image"),
            sources=scripts,
        ),
    )
    return ImageAssembler(assembler)


@rule(desc="Find GNU strip", level=LogLevel.DEBUG)
async def find_strip() -> Strip:
    found = await Get(
        BinaryPaths,
        BinaryPathRequest(
            binary_name="strip",
            search_path=SEARCH_PATHS,
            test=BinaryPathTest(args=["--version"], fingerprint_stdout=True),
        ),
    )
    if found.first_path is None:
        raise ImageBuildError(
            "building an image strips its binaries with GNU strip, which is not on this "
            "machine: install binutils (Debian: apt-get install binutils)"
        )
    return Strip(found.first_path)


def locked_packages(lock_text: bytes, lock_path: str, image: str) -> list[dict]:
    """The lock's packages of `image`, each a dict with url, size and sha256.

    Raises:
        ImageBuildError: the lock is not a lock, or has no such image.
    """
    lock = json.loads(lock_text)
    if lock.get("format") != LOCK_FORMAT:
        raise ImageBuildError(f"{lock_path} is not a Debian lock ({LOCK_FORMAT})")
    if image not in lock["images"]:
        raise ImageBuildError(
            f"{lock_path} has no image {image!r} (it has {sorted(lock['images'])}): add its "
            "roots to images/debian-packages.toml and run `./pants run images:lock-debian`"
        )
    return [{"name": name, **lock["packages"][name]} for name in lock["images"][image]]


@rule(desc="Package an OCI image")
async def package_oci_image(
    field_set: OciImageFieldSet, oci: Oci, assembler: ImageAssembler, strip: Strip
) -> BuiltPackage:
    repository, tag = field_set.repository.value, field_set.tag.value
    lock_contents = await Get(
        DigestContents,
        PathGlobs(
            [oci.debian_lock],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin="the [oci].debian_lock option",
        ),
    )
    packages = locked_packages(
        lock_contents[0].content, oci.debian_lock, field_set.debian_image.value
    )
    try:
        debs = await MultiGet(
            Get(Digest, DownloadFile(p["url"], FileDigest(p["sha256"], p["size"])))
            for p in packages
        )
    except Exception as error:
        raise ImageBuildError(
            f"a Debian package of {repository} is not available as locked ({error}). The "
            "mirror keeps only the newest versions: run `./pants run images:lock-debian` "
            "(after `apt-get update`) to re-lock, then build again."
        ) from error

    targets = await Get(Targets, DependenciesRequest(field_set.dependencies))
    packageable = await Get(FieldSetsPerTarget, FieldSetsPerTargetRequest(PackageFieldSet, targets))
    built = await MultiGet(Get(BuiltPackage, PackageFieldSet, fs) for fs in packageable.field_sets)
    sources = await Get(
        SourceFiles,
        SourceFilesRequest(
            [t.get(SourcesField) for t in targets],
            for_sources_types=(FileSourceField, ResourceSourceField),
            enable_codegen=True,
        ),
    )
    app = await Get(
        Digest, MergeDigests([sources.snapshot.digest, *(package.digest for package in built)])
    )
    uses_node = bool(field_set.node_packages.value or field_set.node_files.value)
    if uses_node and not oci.node_modules:
        raise ImageBuildError(f"{repository} uses node files but [oci].node_modules is not set")
    node_lockfile = (
        await Get(
            Digest,
            PathGlobs(
                [oci.node_lockfile],
                glob_match_error_behavior=GlobMatchErrorBehavior.error,
                description_of_origin="the [oci].node_lockfile option",
            ),
        )
        if uses_node
        else None
    )
    inputs = hashlib.sha256()
    for package in packages:
        inputs.update(package["sha256"].encode())
    inputs.update(app.fingerprint.encode())
    if node_lockfile is not None:
        inputs.update(node_lockfile.fingerprint.encode())
    settings = {
        "repository": repository,
        "tag": tag,
        "entrypoint": list(field_set.entrypoint.value or ()),
        "cmd": list(field_set.cmd.value or ()),
        "env": dict(field_set.env.value or {}),
        "user": field_set.user.value,
        "workdir": field_set.workdir.value,
        "writable": list(field_set.writable.value or ()),
        "wheel_data_prefix": field_set.wheel_data_prefix.value or "",
        "excludes": list(field_set.excludes.value or ()),
        # The fingerprint is strip's `--version`: another strip is another input.
        "strip": {"path": strip.binary.path, "fingerprint": strip.binary.fingerprint},
        "ports": [p if "/" in p else f"{p}/tcp" for p in field_set.ports.value or ()],
        "healthcheck": list(field_set.healthcheck.value or ()),
        "labels": {
            "org.opencontainers.image.title": repository,
            "org.opencontainers.image.version": tag,
            # What the image is made of, not when or from which checkout it was built.
            "org.opencontainers.image.revision": inputs.hexdigest(),
            **dict(field_set.labels.value or {}),
        },
        "source_date_epoch": oci.source_date_epoch,
        "node_modules": oci.node_modules or "",
        "node_packages": list(field_set.node_packages.value or ()),
        "node_files": dict(field_set.node_files.value or {}),
        "app_strip_prefix": field_set.address.spec_path,
    }
    output = field_set.output_path.value_or_default(file_ending="tar")
    input_digest = await Get(
        Digest,
        MergeDigests(
            [
                await Get(Digest, AddPrefix(await Get(Digest, MergeDigests(debs)), "debs")),
                await Get(Digest, AddPrefix(app, "app")),
                await Get(
                    Digest,
                    CreateDigest(
                        [FileContent("image.json", json.dumps(settings, sort_keys=True).encode())]
                    ),
                ),
                *([node_lockfile] if node_lockfile is not None else []),
            ]
        ),
    )
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            assembler.pex,
            argv=(
                f"--output={output}",
                *([f"--node-lockfile={oci.node_lockfile}"] if uses_node else []),
            ),
            input_digest=input_digest,
            output_files=(output, f"{output}.digests"),
            description=f"Assemble the image {repository}:{tag}",
            level=LogLevel.DEBUG,
        ),
    )
    if result.exit_code != 0:
        raise ImageBuildError(result.stderr.decode(errors="replace").strip())
    contents = await Get(DigestContents, Digest, result.output_digest)
    digests = json.loads(next(c.content for c in contents if c.path.endswith(".digests")))
    archive = await Get(Digest, DigestSubset(result.output_digest, PathGlobs([output])))
    return BuiltPackage(
        archive,
        (
            BuiltPackageArtifact(
                output,
                (
                    f"image {repository}:{tag}",
                    f"  manifest  {digests['manifest']}",
                    f"  image ID  {digests['config']}",
                    f"  size      {digests['uncompressed_bytes'] / 2**20:.1f} MiB uncompressed "
                    f"(layers: {digests['layer_mib']} MiB)",
                ),
            ),
        ),
    )


def rules():
    return [
        *collect_rules(),
        *pex.rules(),
        UnionRule(PackageFieldSet, OciImageFieldSet),
    ]
