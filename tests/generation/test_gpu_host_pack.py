"""The GPU host's pack (bench/gpu_host/) carries the versions this suite runs on.

A host without a network gets no resolver, so every wheel the pack carries is pinned. A bare
name in the requirements files is pinned when the pack is made, to the version installed in
this environment (`requirements_pin` in gpu_host.sh), so it cannot drift from the suite; an
explicit pin is for what Easel does not install (pgserver and its two needs). These tests hold
the files to that: a bare name this environment lacks could not be pinned, and an explicit pin
on something it has would drift from it.
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

PACK = Path(__file__).resolve().parents[2] / "bench" / "gpu_host"


def requirements(path: Path) -> dict[str, str | None]:
    """Each distribution the file names, with its explicit pin or None."""
    found: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, pinned = line.partition("==")
            found[canonicalize_name(name)] = pinned if separator else None
    return found


def installed(name: str) -> bool:
    try:
        version(name)
    except PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize(
    ("file_name", "anchor"), [("pipeline.txt", "diffusers"), ("worker.txt", "django")]
)
def test_bare_names_are_installed_here_and_pins_are_for_what_easel_does_not_install(
    file_name: str, anchor: str
) -> None:
    named = requirements(PACK / file_name)
    assert named[anchor] is None  # the check has bare names to check
    not_installed = [name for name, pin in named.items() if pin is None and not installed(name)]
    assert not not_installed, f"{file_name}: pack cannot pin {not_installed}"
    drifting = [name for name, pin in named.items() if pin is not None and installed(name)]
    assert not drifting, f"{file_name}: pinned, yet the suite installs its own: {drifting}"


def test_the_two_packs_name_no_distribution_twice() -> None:
    # Both packs go on PYTHONPATH together: a distribution in both would be two copies, the
    # worker pack's silently shadowing the pipeline pack's.
    pipeline, worker = requirements(PACK / "pipeline.txt"), requirements(PACK / "worker.txt")
    assert not pipeline.keys() & worker.keys()
