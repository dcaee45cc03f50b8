"""The `oci_image` target: a container image assembled by the build, not by a Dockerfile."""

from __future__ import annotations

from pants.core.goals.package import OutputPathField
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    DictStringToStringField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.strutil import help_text


class OciRepositoryField(StringField):
    alias = "repository"
    required = True
    help = "The image's name, e.g. `hydrogen/sonar`."


class OciTagField(StringField):
    alias = "tag"
    required = True
    help = "The image's tag (never `latest`: a tag names one build of the inputs)."


class OciDebianImageField(StringField):
    alias = "debian_image"
    required = True
    help = help_text("""
        Which image of the Debian lock (`[oci].debian_lock`) gives this image's packages;
        its roots are in `images/debian-packages.toml`.
        """)


class OciDependenciesField(Dependencies):
    help = help_text("""
        What goes into the app layer, under the working directory: packages (a `pex_binary`
        is built and its output placed at its path) and files, resources or generated files
        (at their paths; those under this target's directory relative to it).
        """)


class OciNodePackagesField(StringSequenceField):
    alias = "node_packages"
    default = ()
    help = help_text("""
        npm packages copied from the bootstrapped node_modules into
        `<workdir>/node_modules`, with everything they need according to the npm lockfile.
        """)


class OciNodeFilesField(DictStringToStringField):
    alias = "node_files"
    default = {}
    help = "Single files of the bootstrapped node_modules, by path there, to image paths."


class OciEntrypointField(StringSequenceField):
    alias = "entrypoint"
    required = True
    help = "The command the container runs."


class OciCmdField(StringSequenceField):
    alias = "cmd"
    default = ()
    help = "Default arguments of the entrypoint."


class OciEnvField(DictStringToStringField):
    alias = "env"
    default = {}
    help = "Environment variables of the container."


class OciUserField(StringField):
    alias = "user"
    default = "65532:65532"
    help = "The user the container runs as: by default `nonroot`, never root."


class OciWorkdirField(StringField):
    alias = "workdir"
    default = "/app"
    help = "The working directory, where the app layer goes."


class OciWritableField(StringSequenceField):
    alias = "writable"
    default = ()
    help = "Directories created empty and owned by the user (state, repositories)."


class OciWheelDataPrefixField(StringField):
    alias = "wheel_data_prefix"
    default = None
    help = help_text("""
        Where the data files of the wheels in the image's loose PEXes go (their `share/` and
        `etc/` trees: Jupyter's front end, settings schemas and server-extension configs),
        as `pip install` into that prefix would put them: `/usr/local` for Debian's Python.
        Unset, they stay inside the PEX, where nothing looks for them.
        """)


class OciExcludesField(StringSequenceField):
    alias = "excludes"
    default = ()
    help = help_text("""
        Files of the app layer the image leaves out, as patterns of their paths in the image
        (`/app/lab/.deps/babel-*/babel/locale-data/*`): `*` also matches `/`, the last
        matching pattern decides, and `!pattern` takes paths back. Say why in a comment.
        """)


class OciPortsField(StringSequenceField):
    alias = "ports"
    default = ()
    help = "Exposed ports, e.g. `8545/tcp`."


class OciHealthcheckField(StringSequenceField):
    alias = "healthcheck"
    default = ()
    help = "A command, run inside the container, that exits 0 when it is healthy."


class OciLabelsField(DictStringToStringField):
    alias = "labels"
    default = {}
    help = "Labels of the image, besides those the build adds (title, revision of the inputs)."


class OciOutputPathField(OutputPathField):
    pass


class OciImageTarget(Target):
    alias = "oci_image"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        OciRepositoryField,
        OciTagField,
        OciDebianImageField,
        OciDependenciesField,
        OciNodePackagesField,
        OciNodeFilesField,
        OciEntrypointField,
        OciCmdField,
        OciEnvField,
        OciUserField,
        OciWorkdirField,
        OciWritableField,
        OciWheelDataPrefixField,
        OciExcludesField,
        OciPortsField,
        OciHealthcheckField,
        OciLabelsField,
        OciOutputPathField,
    )
    help = help_text("""
        A container image assembled by the build from pinned inputs, the way distroless
        images are: Debian packages from a lock (downloaded and checked by size and
        sha256, unpacked without maintainer scripts), then node files, then the app (its
        wheels' data files where Python looks for them; no build-only files or test suites;
        binaries stripped). No Dockerfile, no daemon. `package` writes one archive that
        `docker load` and `podman load` read, the same bytes on every build of the same
        inputs.
        """)
