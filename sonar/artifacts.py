"""Loads the compiled contract artifacts that the `solidity_sources` build targets produce.

The build compiles `sonar/contracts/<Name>.sol` into `<Name>.json` beside it (see
pants-plugins/solidity); Python targets get it by depending on the contract's target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sonar.errors import ArtifactError

ARTIFACT_FORMAT = "hydrogen.solidity-artifact/1"


@dataclass(frozen=True)
class ContractArtifact:
    """One compiled contract: what is needed to deploy it and to call it."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    immutable_references: dict[str, Any]
    source: str
    source_sha256: str
    compiler_version: str
    compiler_settings: dict[str, Any]


def load_contract(
    name: str, *, file_stem: str | None = None, package: str = "sonar.contracts"
) -> ContractArtifact:
    """Loads contract `name` from the artifact of `<package>/<file_stem>.sol`.

    Parameters:
        name: the contract's name in Solidity.
        file_stem: the source file's name without `.sol`; defaults to `name`.
        package: the Python package (directory) holding the source.

    Raises:
        ArtifactError: if the artifact is missing (the Python target does not depend on
            the contract's target), has another format, or lacks the contract.
    """
    filename = f"{file_stem or name}.json"
    try:
        raw = resources.files(package).joinpath(filename).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise ArtifactError(
            f"no compiled artifact {package}/{filename}: add a dependency on the "
            f"solidity_source target of {file_stem or name}.sol to this Python target"
        ) from error
    artifact = json.loads(raw)
    if artifact.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"{package}/{filename} has format {artifact.get('format')!r}, "
            f"expected {ARTIFACT_FORMAT!r}"
        )
    try:
        contract = artifact["contracts"][name]
    except KeyError:
        raise ArtifactError(
            f"{package}/{filename} has no contract {name!r} "
            f"(it has {sorted(artifact['contracts'])})"
        ) from None
    return ContractArtifact(
        name=name,
        abi=contract["abi"],
        bytecode=contract["bytecode"],
        deployed_bytecode=contract["deployedBytecode"],
        immutable_references=contract["immutableReferences"],
        source=artifact["source"],
        source_sha256=artifact["sourceSha256"],
        compiler_version=artifact["compiler"]["version"],
        compiler_settings=artifact["compiler"]["settings"],
    )
