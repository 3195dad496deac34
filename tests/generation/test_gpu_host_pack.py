"""The GPU host's pack (bench/gpu_host/) carries the versions this suite runs on.

The pack's wheels are pinned, since a host without a network gets no resolver: a pin left behind
when a dependency moves would bench code against a library the suite never ran. So every pin
whose distribution is installed here must be the installed version. (pgserver and its two needs
are not dependencies of Easel, so they are not installed here and are not checked.)
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

PACK = Path(__file__).resolve().parents[2] / "bench" / "gpu_host"


def pins(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, pinned = line.partition("==")
        assert separator, f"{path.name}: {line!r} is not pinned with =="
        found[canonicalize_name(name)] = pinned
    return found


@pytest.mark.parametrize(
    ("requirements", "anchor"), [("pipeline.txt", "diffusers"), ("worker.txt", "django")]
)
def test_every_pin_the_suite_has_installed_is_the_installed_version(
    requirements: str, anchor: str
) -> None:
    pinned = pins(PACK / requirements)
    installed = {}
    for name in pinned:
        try:
            installed[name] = version(name)
        except PackageNotFoundError:
            continue
    assert anchor in installed  # the check compares something
    stale = {name: (pinned[name], have) for name, have in installed.items() if pinned[name] != have}
    assert not stale, f"{requirements}: pinned (pack, suite) differ: {stale}"


def test_the_worker_pack_names_no_distribution_twice() -> None:
    # Both packs go on PYTHONPATH together: a distribution in both would be two copies, the
    # worker pack's silently shadowing the pipeline pack's.
    pipeline, worker = pins(PACK / "pipeline.txt"), pins(PACK / "worker.txt")
    assert not pipeline.keys() & worker.keys()
