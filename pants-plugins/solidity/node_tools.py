"""Locates the Node tools the Solidity rules run: the `node` binary and node_modules.

node_modules lives outside the build graph (./pants installs it with `npm ci`), so each
process that uses it takes the npm lockfile and node's version as inputs: a different
compiler or linter invalidates cached results instead of being silently reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.core.util_rules.system_binaries import (
    BinaryPath,
    BinaryPathRequest,
    BinaryPaths,
    BinaryPathTest,
)
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, PathGlobs
from pants.engine.internals.selectors import Get
from pants.engine.rules import collect_rules, rule
from pants.option.global_options import GlobMatchErrorBehavior

from solidity.subsystems import Solidity


class NodeToolsError(Exception):
    """The Node toolchain is not where [solidity] says it is."""


@dataclass(frozen=True)
class NodeTools:
    node: BinaryPath
    node_modules: str
    lockfile_digest: Digest

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process that runs node tools (scripts start `#!/usr/bin/env node`)."""
        return {
            "PATH": os.path.dirname(self.node.path),
            # Not read by anything; makes the process's cache key follow node's version.
            "__HYDROGEN_NODE_FINGERPRINT": self.node.fingerprint,
        }


@rule(desc="Find the Node tools for Solidity")
async def find_node_tools(solidity: Solidity) -> NodeTools:
    if not solidity.node_modules or not os.path.isabs(solidity.node_modules):
        raise NodeToolsError(
            "[solidity].node_modules must be the absolute path of the bootstrapped "
            f"node_modules, got {solidity.node_modules!r}. Run Pants through ./pants."
        )
    if not os.path.isfile(os.path.join(solidity.node_modules, "solc", "soljson.js")):
        raise NodeToolsError(
            f"{solidity.node_modules} has no solc/soljson.js: the Node tools are not installed. "
            "Run ./pants, which installs them with `npm ci`."
        )
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["PATH"]))
    search_path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    paths = await Get(
        BinaryPaths,
        BinaryPathRequest(
            binary_name="node",
            search_path=search_path,
            test=BinaryPathTest(args=["--version"]),
        ),
    )
    if not paths.first_path:
        raise NodeToolsError(f"`node` was not found on PATH ({':'.join(search_path)}).")
    lockfile_digest = await Get(
        Digest,
        PathGlobs(
            [solidity.node_lockfile],
            glob_match_error_behavior=GlobMatchErrorBehavior.error,
            description_of_origin="the [solidity].node_lockfile option",
        ),
    )
    return NodeTools(paths.first_path, solidity.node_modules, lockfile_digest)


def rules():
    return collect_rules()
