"""The Solidity backend, driven through a real Pants engine (RuleRunner).

Each RuleRunner has its own store and process cache, so two of them compile twice for
real. They use the repo's own pins: the npm-installed solc, the python-default lockfile (py-solc-x),
and the locally built pex tool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from textwrap import dedent

import pytest
import toml
from pants.backend.python import target_types_rules
from pants.core.goals.lint import LintResult
from pants.core.util_rules import config_files, source_files, system_binaries
from pants.core.util_rules.partitions import Partitions
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import (
    GeneratedSources,
    HydratedSources,
    HydrateSourcesRequest,
    InferredDependencies,
)
from pants.testutil.rule_runner import QueryRule, RuleRunner

from solidity import register
from solidity.codegen import GenerateSolidityArtifactRequest, SolidityCompileError
from solidity.dependency_inference import (
    InferSolidityDependencies,
    SolidityInferenceFieldSet,
    imported_paths,
)
from solidity.solhint import SolhintFieldSet, SolhintRequest
from solidity.target_types import SoliditySourceField

NODE_MODULES = os.environ["HYDROGEN_NODE_MODULES"]
REPO_FILES = ("3rdparty/python/python-default.lock", "3rdparty/node/package-lock.json")

VAULT = dedent("""\
    // SPDX-License-Identifier: Apache-2.0
    pragma solidity ^0.8.28;

    import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
    import {Math} from "./lib/Math.sol";

    /// @dev Holds ether.
    contract Vault is ReentrancyGuard {
        function double(uint256 x) external pure returns (uint256) {
            return Math.twice(x);
        }
    }
    """)
MATH = dedent("""\
    // SPDX-License-Identifier: Apache-2.0
    pragma solidity ^0.8.28;

    library Math {
        function twice(uint256 x) internal pure returns (uint256) {
            return 2 * x;
        }
    }
    """)
BROKEN = dedent("""\
    // SPDX-License-Identifier: Apache-2.0
    pragma solidity ^0.8.28;

    contract Broken {
        uint256 x = 1
    }
    """)


def pants_options() -> list[str]:
    """The options pants.toml gives a real build, with the bootstrap's absolute paths."""
    pex_cli = toml.load("pants.toml")["pex-cli"]
    bootstrap_dir = Path(NODE_MODULES).parent.parent  # .bootstrap/node/node_modules
    return [
        f"--solidity-node-modules={NODE_MODULES}",
        "--python-interpreter-constraints=['CPython==3.11.*']",
        "--python-enable-resolves",
        "--python-resolves={'python-default': '3rdparty/python/python-default.lock'}",
        "--python-bootstrap-search-path=['<PYENV>', '<PATH>']",
        f"--pex-cli-version={pex_cli['version']}",
        f"--pex-cli-known-versions={pex_cli['known_versions']}",
        f"--pex-cli-url-template=file://{bootstrap_dir}/pex/pex-{{version}}",
        "--subprocess-environment-env-vars=['PIP_CONFIG_FILE=/dev/null']",
        *(
            [f"--ca-certs-path={os.environ['PANTS_CA_CERTS_PATH']}"]
            if os.environ.get("PANTS_CA_CERTS_PATH")
            else []
        ),
        "--solhint-args=['--max-warnings=0']",
    ]


def make_rule_runner() -> RuleRunner:
    rule_runner = RuleRunner(
        rules=[
            *register.rules(),
            *config_files.rules(),
            *source_files.rules(),
            *system_binaries.rules(),
            *target_types_rules.rules(),
            QueryRule(HydratedSources, [HydrateSourcesRequest]),
            QueryRule(GeneratedSources, [GenerateSolidityArtifactRequest]),
            QueryRule(InferredDependencies, [InferSolidityDependencies]),
            QueryRule(Partitions, [SolhintRequest.PartitionRequest]),
            QueryRule(LintResult, [SolhintRequest.Batch]),
        ],
        target_types=register.target_types(),
        isolated_local_store=True,  # no process cache shared between runners
    )
    rule_runner.write_files(
        {
            **{path: Path(path).read_text() for path in REPO_FILES},
            ".solhint.json": Path(".solhint.json").read_text(),
            "contracts/BUILD": "solidity_sources()",
            "contracts/Vault.sol": VAULT,
            "contracts/lib/BUILD": "solidity_sources()",
            "contracts/lib/Math.sol": MATH,
            "broken/BUILD": "solidity_sources()",
            "broken/Broken.sol": BROKEN,
        }
    )
    rule_runner.set_options(pants_options(), env_inherit={"PATH", "PYENV_ROOT", "HOME"})
    return rule_runner


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    return make_rule_runner()


def compile_artifact(rule_runner: RuleRunner, address: Address) -> dict[str, bytes]:
    target = rule_runner.get_target(address)
    sources = rule_runner.request(
        HydratedSources, [HydrateSourcesRequest(target[SoliditySourceField])]
    )
    generated = rule_runner.request(
        GeneratedSources, [GenerateSolidityArtifactRequest(sources.snapshot, target)]
    )
    contents = rule_runner.request(DigestContents, [generated.snapshot.digest])
    return {file.path: file.content for file in contents}


VAULT_ADDRESS = Address("contracts", relative_file_path="Vault.sol")


def test_compiles_a_contract_with_local_and_package_imports(rule_runner: RuleRunner) -> None:
    files = compile_artifact(rule_runner, VAULT_ADDRESS)

    assert list(files) == ["contracts/Vault.json"]
    artifact = json.loads(files["contracts/Vault.json"])
    assert artifact["format"] == "hydrogen.solidity-artifact/1"
    assert artifact["source"] == "contracts/Vault.sol"
    assert artifact["compiler"]["version"].startswith("0.8.37+commit.")
    assert artifact["compiler"]["settings"] == {
        "evmVersion": "cancun",
        "optimizer": {"enabled": True, "runs": 200},
        "viaIR": False,
    }
    assert list(artifact["contracts"]) == ["Vault"]
    vault = artifact["contracts"]["Vault"]
    assert [entry["name"] for entry in vault["abi"]] == ["ReentrancyGuardReentrantCall", "double"]
    assert vault["bytecode"].startswith("0x60") and vault["deployedBytecode"].startswith("0x60")


def test_two_independent_builds_give_identical_bytes(rule_runner: RuleRunner) -> None:
    first = compile_artifact(rule_runner, VAULT_ADDRESS)
    second = compile_artifact(make_rule_runner(), VAULT_ADDRESS)  # a new store: no cache

    assert first == second


def test_a_syntax_error_fails_the_build_with_the_file_and_line(rule_runner: RuleRunner) -> None:
    broken = Address("broken", relative_file_path="Broken.sol")

    with pytest.raises(ExecutionError) as error:
        compile_artifact(rule_runner, broken)

    (cause,) = error.value.wrapped_exceptions
    assert isinstance(cause, SolidityCompileError)
    message = str(cause)
    assert message.startswith("broken/Broken.sol does not compile:")
    assert "ParserError: Expected ';' but got '}'" in message
    assert "--> broken/Broken.sol:6:1:" in message


def test_relative_imports_are_inferred_as_dependencies(rule_runner: RuleRunner) -> None:
    target = rule_runner.get_target(VAULT_ADDRESS)

    inferred = rule_runner.request(
        InferredDependencies,
        [InferSolidityDependencies(SolidityInferenceFieldSet.create(target))],
    )

    assert inferred == InferredDependencies(
        [Address("contracts/lib", relative_file_path="Math.sol")]
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ('import "./A.sol";', ("c/A.sol",)),
        ('import {X as Y, Z} from "../lib/B.sol";', ("lib/B.sol",)),
        ('import * as M from "c/C.sol";', ("c/C.sol",)),
        ('import "@openzeppelin/contracts/access/Ownable.sol";', ()),
        ('// import "./Commented.sol";\n/* import "./Block.sol"; */', ()),
    ],
)
def test_import_paths(source: str, expected: tuple[str, ...]) -> None:
    assert imported_paths("c/Main.sol", source) == expected


def test_solhint_fails_on_a_rule_violation_and_passes_clean_code(rule_runner: RuleRunner) -> None:
    def lint(address: Address) -> LintResult:
        field_set = SolhintFieldSet.create(rule_runner.get_target(address))
        (partition,) = rule_runner.request(
            Partitions, [SolhintRequest.PartitionRequest((field_set,))]
        )
        batch = SolhintRequest.Batch("", partition.elements, partition.metadata)
        return rule_runner.request(LintResult, [batch])

    clean = lint(Address("contracts/lib", relative_file_path="Math.sol"))
    # Vault.sol lacks the NatSpec @param/@return on `double`.
    flagged = lint(VAULT_ADDRESS)

    assert clean.exit_code == 0, clean.stdout
    assert flagged.exit_code != 0
    assert "contracts/Vault.sol" in flagged.stdout and "use-natspec" in flagged.stdout
