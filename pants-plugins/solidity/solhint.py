"""`lint` for Solidity with solhint, run from the bootstrapped node_modules."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pants.core.goals.lint import LintResult, LintTargetsRequest
from pants.core.util_rules.config_files import ConfigFiles, ConfigFilesRequest
from pants.core.util_rules.partitions import PartitionerType
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.fs import Digest, MergeDigests
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import FieldSet, Target
from pants.util.logging import LogLevel
from pants.util.strutil import pluralize

from solidity.node_tools import NodeTools
from solidity.subsystems import Solhint
from solidity.target_types import SkipSolhintField, SoliditySourceField


@dataclass(frozen=True)
class SolhintFieldSet(FieldSet):
    required_fields = (SoliditySourceField,)

    source: SoliditySourceField

    @classmethod
    def opt_out(cls, tgt: Target) -> bool:
        return tgt.get(SkipSolhintField).value


class SolhintRequest(LintTargetsRequest):
    field_set_type = SolhintFieldSet
    tool_subsystem = Solhint
    partitioner_type = PartitionerType.DEFAULT_SINGLE_PARTITION


@rule(desc="Lint with solhint", level=LogLevel.DEBUG)
async def run_solhint(
    request: SolhintRequest.Batch[SolhintFieldSet, Any], solhint: Solhint, node_tools: NodeTools
) -> LintResult:
    sources, config = await MultiGet(
        Get(SourceFiles, SourceFilesRequest(fs.source for fs in request.elements)),
        Get(ConfigFiles, ConfigFilesRequest, solhint.config_request()),
    )
    input_digest = await Get(
        Digest,
        MergeDigests((sources.snapshot.digest, config.snapshot.digest, node_tools.lockfile_digest)),
    )
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=(
                os.path.join(node_tools.node_modules, "solhint", "solhint.js"),
                "--config",
                solhint.config,
                "--disc",  # no update check: it would reach the network
                "--noPrompt",
                "--noPoster",  # no advertising banner in lint output
                *solhint.args,
                *sources.snapshot.files,
            ),
            input_digest=input_digest,
            env=node_tools.env,
            description=f"Run solhint on {pluralize(len(sources.snapshot.files), 'file')}.",
            level=LogLevel.DEBUG,
        ),
    )
    return LintResult.create(request, result)


def rules():
    return [*collect_rules(), *SolhintRequest.rules()]
