"""Options of the image build: the reproducible timestamp, the Debian lock, node_modules."""

from __future__ import annotations

from pants.option.option_types import IntOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class Oci(Subsystem):
    options_scope = "oci"
    help = "Building container images from pinned inputs (the `oci_image` target)."

    source_date_epoch = IntOption(
        default=1_700_000_000,
        help=softwrap("""
            The time every file of every layer and every image's `created` carry, in
            seconds since 1970 (SOURCE_DATE_EPOCH): not the time of the build.
            """),
    )
    debian_lock = StrOption(
        default="images/debian.lock.json",
        help="The Debian lock, relative to the build root (`./pants run images:lock-debian`).",
    )
    node_modules = StrOption(
        default=None,
        help="The bootstrapped node_modules (absolute), for `node_packages` and `node_files`.",
    )
    node_lockfile = StrOption(
        default="3rdparty/node/package-lock.json",
        advanced=True,
        help="The npm lockfile node_modules is installed from; an input of every image using it.",
    )
