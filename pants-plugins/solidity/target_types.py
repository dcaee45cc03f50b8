"""The `solidity_source` target and its `solidity_sources` generator."""

from __future__ import annotations

from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    Dependencies,
    MultipleSourcesField,
    OverridesField,
    SingleSourceField,
    Target,
    TargetFilesGenerator,
    generate_file_based_overrides_field_help_message,
    generate_multiple_sources_field_help_message,
)
from pants.util.strutil import help_text


class SolidityDependenciesField(Dependencies):
    pass


class SoliditySourceField(SingleSourceField):
    expected_file_extensions = (".sol",)


class SkipSolhintField(BoolField):
    alias = "skip_solhint"
    default = False
    help = "If true, don't lint this target's sources with solhint."


class SoliditySourceTarget(Target):
    alias = "solidity_source"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        SolidityDependenciesField,
        SoliditySourceField,
        SkipSolhintField,
    )
    help = help_text("""
        A single Solidity file, compiled with the official compiler (npm `solc`) through
        py-solc-x into `<Name>.json` beside it: ABI, bytecode and deployed bytecode of every
        contract in the file, with the compiler version, settings and the source's sha256.

        Python targets that depend on it receive that JSON as a resource. Relative imports of
        other Solidity files are inferred as dependencies; package imports such as
        `@openzeppelin/...` resolve from the bootstrapped node_modules.
        """)


class SoliditySourcesGeneratingSourcesField(MultipleSourcesField):
    default = ("*.sol",)
    expected_file_extensions = (".sol",)
    help = generate_multiple_sources_field_help_message(
        "Example: `sources=['Token.sol', 'mocks/*.sol', '!Old.sol']`"
    )


class SoliditySourcesOverridesField(OverridesField):
    help = generate_file_based_overrides_field_help_message(
        SoliditySourceTarget.alias,
        """
        overrides={
            "Legacy.sol": {"skip_solhint": True},
        }
        """,
    )


class SoliditySourcesGeneratorTarget(TargetFilesGenerator):
    alias = "solidity_sources"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        SoliditySourcesGeneratingSourcesField,
        SoliditySourcesOverridesField,
    )
    generated_target_cls = SoliditySourceTarget
    copied_fields = COMMON_TARGET_FIELDS
    moved_fields = (SolidityDependenciesField, SkipSolhintField)
    help = "Generate a `solidity_source` target for each file in the `sources` field."
