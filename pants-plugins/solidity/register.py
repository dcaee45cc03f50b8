"""Registers the Solidity backend: target types, compile codegen, import inference, solhint."""

from solidity import codegen, dependency_inference, node_tools, solhint
from solidity.target_types import SoliditySourcesGeneratorTarget, SoliditySourceTarget


def target_types():
    return [SoliditySourceTarget, SoliditySourcesGeneratorTarget]


def rules():
    return [
        *codegen.rules(),
        *dependency_inference.rules(),
        *node_tools.rules(),
        *solhint.rules(),
    ]
