"""Infers a `solidity_source`'s dependencies on the local files it imports.

Only path imports (`./X.sol`, `../lib/Y.sol`, or a build-root-relative path) are local;
package imports such as `@openzeppelin/contracts/...` resolve from node_modules at compile
time and are covered by the npm lockfile, not by the build graph.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.graph import Owners, OwnersRequest
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    ExplicitlyProvidedDependencies,
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    InferDependenciesRequest,
    InferredDependencies,
)
from pants.engine.unions import UnionRule

from solidity.subsystems import Solidity
from solidity.target_types import SolidityDependenciesField, SoliditySourceField

# `import "p";`, `import "p" as X;`, `import * as X from "p";`, `import {A, B as C} from "p";`
_IMPORT = re.compile(r"""^\s*import\s+(?:[^;'"]*?\bfrom\s+)?["']([^"']+)["']""", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


def imported_paths(source_path: str, content: str) -> tuple[str, ...]:
    """Build-root-relative paths of the files `source_path` imports by path."""
    found = []
    for imported in _IMPORT.findall(_COMMENT.sub("", content)):
        if imported.startswith(("./", "../")):
            found.append(
                posixpath.normpath(posixpath.join(posixpath.dirname(source_path), imported))
            )
        elif not imported.startswith("@"):
            found.append(posixpath.normpath(imported))
    return tuple(found)


@dataclass(frozen=True)
class SolidityInferenceFieldSet(FieldSet):
    required_fields = (SoliditySourceField, SolidityDependenciesField)

    source: SoliditySourceField
    dependencies: SolidityDependenciesField


class InferSolidityDependencies(InferDependenciesRequest):
    infer_from = SolidityInferenceFieldSet


@rule(desc="Infer Solidity dependencies")
async def infer_solidity_dependencies(
    request: InferSolidityDependencies, solidity: Solidity
) -> InferredDependencies:
    if not solidity.infer_dependencies:
        return InferredDependencies([])
    hydrated, explicit = await MultiGet(
        Get(HydratedSources, HydrateSourcesRequest(request.field_set.source)),
        Get(ExplicitlyProvidedDependencies, DependenciesRequest(request.field_set.dependencies)),
    )
    contents = await Get(DigestContents, Digest, hydrated.snapshot.digest)
    paths = [
        path
        for file in contents
        for path in imported_paths(file.path, file.content.decode("utf-8", errors="replace"))
    ]
    owners_per_path = await MultiGet(Get(Owners, OwnersRequest((path,))) for path in paths)
    result: set[Address] = set()
    for path, owners in zip(paths, owners_per_path):
        if len(owners) == 1:
            result.update(owners)
        elif owners:
            explicit.maybe_warn_of_ambiguous_dependency_inference(
                tuple(owners),
                request.field_set.address,
                import_reference="file",
                context=f"{request.field_set.address} imports {path}",
            )
            disambiguated = explicit.disambiguated(tuple(owners))
            if disambiguated:
                result.add(disambiguated)
    return InferredDependencies(sorted(result))


def rules():
    return [
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferSolidityDependencies),
    ]
