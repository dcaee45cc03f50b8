"""Compiles one Solidity file into its JSON artifact with py-solc-x.

Run by the Solidity backend inside a Pants sandbox (Python 3.11, py-solc-x installed), with
the file and its local imports in the working directory. Writes `<file>.json` beside the
source: every contract's ABI, bytecode, deployed bytecode and immutable references, the
compiler's version and settings, and the source's sha256, serialized canonically so that
the same inputs always give the same bytes. On a compile error, prints solc's messages
(each names file:line:col) to stderr and exits 1; warnings are printed and do not fail,
except those whose code is ignored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import solcx
from solcx.exceptions import SolcError

ARTIFACT_FORMAT = "hydrogen.solidity-artifact/1"
OUTPUTS = [
    "abi",
    "evm.bytecode.object",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences",
    "evm.methodIdentifiers",
]


def compiler_input(source: str, content: str, *, evm_version: str, runs: int, via_ir: bool) -> dict:
    return {
        "language": "Solidity",
        "sources": {source: {"content": content}},
        "settings": {
            "evmVersion": evm_version,
            "optimizer": {"enabled": True, "runs": runs},
            "viaIR": via_ir,
            "outputSelection": {source: {"*": OUTPUTS}},
        },
    }


def compile_file(solc: str, node_modules: str, request: dict, ignored: set[str]) -> dict:
    stdout, _, _, _ = solcx.wrapper.solc_wrapper(
        solc_binary=solc,
        stdin=json.dumps(request),
        standard_json=True,
        base_path=os.getcwd(),
        include_path=node_modules,
    )
    output = json.loads(stdout)
    diagnostics = output.get("errors", [])
    for warning in (d for d in diagnostics if d["severity"] != "error"):
        if warning.get("errorCode") not in ignored:
            print(warning["formattedMessage"], file=sys.stderr)
    errors = [d["formattedMessage"] for d in diagnostics if d["severity"] == "error"]
    if errors:
        raise SolcError("\n".join(errors))
    return output


def artifact(source: str, content: str, request: dict, output: dict, version: str) -> dict:
    settings = {k: v for k, v in request["settings"].items() if k != "outputSelection"}
    contracts = {
        name: {
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            # Where the constructor writes immutables into the runtime code: a contract
            # with any cannot be placed in a genesis as compiled.
            "immutableReferences": compiled["evm"]["deployedBytecode"]["immutableReferences"],
            "methodIdentifiers": compiled["evm"]["methodIdentifiers"],
        }
        for name, compiled in output.get("contracts", {}).get(source, {}).items()
    }
    return {
        "format": ARTIFACT_FORMAT,
        "source": source,
        "sourceSha256": hashlib.sha256(content.encode()).hexdigest(),
        "compiler": {"name": "solc", "version": version, "settings": settings},
        "contracts": contracts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--solc", required=True, help="the solc shim, relative to the sandbox")
    parser.add_argument("--node-modules", required=True)
    parser.add_argument("--evm-version", required=True)
    parser.add_argument("--optimizer-runs", type=int, required=True)
    parser.add_argument("--via-ir", action="store_true")
    parser.add_argument("--ignore-warning", action="append", default=[], metavar="CODE")
    parser.add_argument("source")
    args = parser.parse_args()

    solc = os.path.abspath(args.solc)  # py-solc-x needs an absolute path
    with open(args.source, encoding="utf-8") as f:
        content = f.read()
    request = compiler_input(
        args.source,
        content,
        evm_version=args.evm_version,
        runs=args.optimizer_runs,
        via_ir=args.via_ir,
    )
    try:
        output = compile_file(solc, args.node_modules, request, set(args.ignore_warning))
    except SolcError as error:
        print(error.message, file=sys.stderr)
        return 1
    version = solcx.wrapper.get_version_str_from_solc_binary(solc)
    result = artifact(args.source, content, request, output, version)
    with open(os.path.splitext(args.source)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
