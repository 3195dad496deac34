"""The GPU host's pack (bench/gpu_host/) carries the versions this suite runs on.

A host without a network gets no resolver, so every wheel the pack carries is pinned. A bare
name in the requirements files is pinned when the pack is made, to the version installed in
this environment (`requirements_pin` in gpu_host.sh), so it cannot drift from the suite; an
explicit pin is for what Easel does not install (pgserver and its two needs). These tests hold
the files to that: a bare name this environment lacks could not be pinned, and an explicit pin
on something it has would drift from it. The wheels go in with --no-deps, so each need of a
carried distribution is carried too or is one of the host's own (host.txt).
"""

from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
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


def needs(name: str) -> set[str]:
    """What the installed distribution requires on this platform, extras aside."""
    found: set[str] = set()
    for line in distribution(name).requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            found.add(canonicalize_name(requirement.name))
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


def test_every_need_of_a_carried_distribution_is_carried_or_the_hosts() -> None:
    carried = requirements(PACK / "pipeline.txt").keys() | requirements(PACK / "worker.txt").keys()
    host = requirements(PACK / "host.txt").keys()
    unmet = {
        f"{name} needs {need}"
        for name in carried
        # pgserver and its two needs are not installed here, so there is nothing to read
        # (pgserver needs those two, carried, and psutil, the host's). mediapipe is installed
        # without its declared needs (pyproject.toml says why), and is carried that way.
        if installed(name) and name != "mediapipe"
        for need in needs(name) - carried - host
    }
    assert not unmet, f"add each to worker.txt or pipeline.txt, or to host.txt: {sorted(unmet)}"


def test_what_the_host_is_assumed_to_have_is_installed_here() -> None:
    # The smoke's host-like environment is made from host.txt: a name here that this
    # environment lacks is one the suite never ran with.
    missing = [name for name in requirements(PACK / "host.txt") if not installed(name)]
    assert not missing
