"""Registers the image backend: the `oci_image` target and its `package` rule."""

from oci import package
from oci.target_types import OciImageTarget


def target_types():
    return [OciImageTarget]


def rules():
    return package.rules()
