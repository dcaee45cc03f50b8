"""Options of the Solidity backend: compiler settings, the tools' locations, solhint."""

from __future__ import annotations

from pants.core.util_rules.config_files import ConfigFilesRequest
from pants.option.option_types import (
    ArgsListOption,
    BoolOption,
    IntOption,
    SkipOption,
    StrListOption,
    StrOption,
)
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class Solidity(Subsystem):
    options_scope = "solidity"
    help = "Compiling Solidity with the official compiler (npm `solc`) through py-solc-x."

    node_modules = StrOption(
        default=None,
        help=softwrap("""
            Absolute path of the node_modules directory holding `solc`, `solhint` and the
            Solidity packages contracts import (e.g. `@openzeppelin/contracts`). ./pants
            installs it from `node_lockfile`.
            """),
    )
    node_lockfile = StrOption(
        default="3rdparty/node/package-lock.json",
        advanced=True,
        help=softwrap("""
            The npm lockfile node_modules is installed from, relative to the build root. Its
            content is an input of every compile and lint, so a new compiler invalidates them.
            """),
    )
    evm_version = StrOption(
        default="cancun",
        help="The EVM version to compile for (both anvil and eth-tester run Cancun code).",
    )
    optimizer_runs = IntOption(
        default=200, help="The optimizer's `runs` setting (the optimizer is always on)."
    )
    ignored_warning_codes = StrListOption(
        default=[],
        help=softwrap("""
            solc warning codes (the `errorCode` of a diagnostic, e.g. "2394") not to print.
            Errors are never ignored.
            """),
    )
    compiler_resolve = StrOption(
        default="python-default",
        advanced=True,
        help=softwrap("""
            The Python resolve that provides py-solc-x; the compile step runs on that
            resolve's interpreter constraints.
            """),
    )
    via_ir = BoolOption(
        default=False,
        help="Compile through solc's IR pipeline (`viaIR`): slower, and usually less gas.",
    )
    infer_dependencies = BoolOption(
        default=True,
        help="Infer dependencies on other `solidity_source` targets from relative imports.",
    )


class Solhint(Subsystem):
    options_scope = "solhint"
    name = "solhint"
    help = "The Solidity linter solhint (https://protofire.github.io/solhint/), from node_modules."

    skip = SkipOption("lint")
    args = ArgsListOption(example="--max-warnings 0")
    config = StrOption(
        default=".solhint.json",
        advanced=True,
        help="Path of solhint's config file, relative to the build root.",
    )

    def config_request(self) -> ConfigFilesRequest:
        return ConfigFilesRequest(
            specified=self.config,
            specified_option_name=f"[{self.options_scope}].config",
        )
