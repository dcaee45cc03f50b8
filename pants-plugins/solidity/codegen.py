"""Codegen: a `solidity_source` becomes `<Name>.json`, a resource Python targets depend on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePath

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import EntryPoint
from pants.backend.python.util_rules import pex
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.backend.python.util_rules.pex_requirements import PexRequirements, Resolve
from pants.core.target_types import ResourceSourceField
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests, Snapshot
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    GeneratedSources,
    GenerateSourcesRequest,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel
from pants.util.resources import read_resource

from solidity.node_tools import NodeTools
from solidity.subsystems import Solidity
from solidity.target_types import SoliditySourceField

logger = logging.getLogger(__name__)

_SCRIPTS = "solidity.scripts"
_COMPILE_SCRIPT = "__solidity_compile.py"
_SOLC_SHIM = "__solc_shim.js"


class SolidityCompileError(Exception):
    """A Solidity source did not compile; the message carries solc's diagnostics."""


class GenerateSolidityArtifactRequest(GenerateSourcesRequest):
    input = SoliditySourceField
    output = ResourceSourceField


@dataclass(frozen=True)
class SolidityCompiler:
    pex: VenvPex
    shim: Digest


def _script(name: str, path: str, *, executable: bool = False) -> FileContent:
    content = read_resource(_SCRIPTS, name)
    if not content:
        raise SolidityCompileError(f"the Solidity backend is missing its resource {name}")
    return FileContent(path, content, is_executable=executable)


@rule(desc="Set up the Solidity compiler", level=LogLevel.DEBUG)
async def setup_compiler(solidity: Solidity, python_setup: PythonSetup) -> SolidityCompiler:
    script, shim = await MultiGet(
        Get(Digest, CreateDigest([_script("compile_solidity.py", _COMPILE_SCRIPT)])),
        Get(Digest, CreateDigest([_script("solc_shim.js", _SOLC_SHIM, executable=True)])),
    )
    resolve = solidity.compiler_resolve
    compiler_pex = await Get(
        VenvPex,
        PexRequest(
            output_filename="solidity_compiler.pex",
            internal_only=True,
            requirements=PexRequirements(
                ["py-solc-x"],
                from_superset=Resolve(resolve, use_entire_lockfile=False),
                description_of_origin="the [solidity].compiler_resolve option",
            ),
            interpreter_constraints=InterpreterConstraints(
                python_setup.resolves_to_interpreter_constraints.get(
                    resolve, python_setup.interpreter_constraints
                )
            ),
            main=EntryPoint(PurePath(_COMPILE_SCRIPT).stem),
            sources=script,
        ),
    )
    return SolidityCompiler(compiler_pex, shim)


@rule(desc="Compile Solidity")
async def generate_solidity_artifact(
    request: GenerateSolidityArtifactRequest,
    compiler: SolidityCompiler,
    node_tools: NodeTools,
    solidity: Solidity,
) -> GeneratedSources:
    source_path = request.protocol_sources.files[0]
    # Local imports must be in the sandbox, where solc resolves them from the base path.
    transitive = await Get(
        TransitiveTargets, TransitiveTargetsRequest([request.protocol_target.address])
    )
    closure_sources = await Get(
        SourceFiles,
        SourceFilesRequest(
            tgt[SoliditySourceField]
            for tgt in transitive.closure
            if tgt.has_field(SoliditySourceField)
        ),
    )
    input_digest = await Get(
        Digest,
        MergeDigests((closure_sources.snapshot.digest, compiler.shim, node_tools.lockfile_digest)),
    )
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            compiler.pex,
            argv=(
                f"--solc={_SOLC_SHIM}",
                f"--node-modules={node_tools.node_modules}",
                f"--evm-version={solidity.evm_version}",
                f"--optimizer-runs={solidity.optimizer_runs}",
                *(["--via-ir"] if solidity.via_ir else []),
                *(f"--ignore-warning={code}" for code in solidity.ignored_warning_codes),
                source_path,
            ),
            input_digest=input_digest,
            extra_env={**node_tools.env, "NODE_PATH": node_tools.node_modules},
            output_files=(str(PurePath(source_path).with_suffix(".json")),),
            description=f"Compile {source_path} with solc",
            level=LogLevel.DEBUG,
        ),
    )
    diagnostics = result.stderr.decode(errors="replace").strip()
    if result.exit_code != 0:
        raise SolidityCompileError(f"{source_path} does not compile:\n{diagnostics}")
    if diagnostics:
        logger.warning("solc warnings for %s:\n%s", source_path, diagnostics)
    return GeneratedSources(await Get(Snapshot, Digest, result.output_digest))


def rules():
    return [
        *collect_rules(),
        *pex.rules(),
        UnionRule(GenerateSourcesRequest, GenerateSolidityArtifactRequest),
    ]
