"""A pytest plugin: Mailflow Lab scenarios as fixtures for a checker's tests.

Fixtures:

- ``maillab_lab``: a running lab, as a ``maillab.verify.LabInfo``. Its
  scenario comes from ``@pytest.mark.maillab_scenarios(...)`` (one test per
  scenario), from ``@pytest.mark.maillab_scenario(SPEC)``, or is ``healthy``.
- ``maillab_lab_factory``: ``factory(SPEC)`` starts another lab and returns
  its ``LabInfo``; ``await factory.astart(SPEC)`` does so from asyncio code.

A SPEC is a bundled scenario's name, a path to a scenario file, or a
dictionary holding a scenario (``title``, ``symptoms`` and ``question`` may
be left out). Labs run on a background thread's event loop, so sync and
asyncio tests use them alike; every lab stops when its test ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from maillab.verify.contract import LabInfo
    from maillab.verify.labthread import LabThread, ScenarioSpec

DEFAULT_SCENARIO = "healthy"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "maillab_scenarios(*specs): run the test once per scenario, "
        "each time with maillab_lab started from it")
    config.addinivalue_line(
        "markers", "maillab_scenario(spec): the scenario maillab_lab starts")


def _spec_id(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return str(spec.get("name") or "inline")
    return Path(str(spec)).stem


def maillab_scenarios(*specs: Any) -> pytest.MarkDecorator:
    """Parametrize a test over scenarios; it must use the ``maillab_lab`` fixture."""
    return pytest.mark.parametrize("maillab_lab", list(specs), indirect=True,
                                   ids=[_spec_id(s) for s in specs])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("maillab_scenarios")
    if marker is None:
        return
    if "maillab_lab" not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: maillab_scenarios needs the "
            "maillab_lab fixture")
    specs = list(marker.args)
    metafunc.parametrize("maillab_lab", specs, indirect=True,
                         ids=[_spec_id(s) for s in specs])


class LabFactory:
    """Starts labs for one test; ``maillab_lab_factory`` yields one."""

    def __init__(self, labs: LabThread) -> None:
        self._labs = labs

    def __call__(self, spec: ScenarioSpec) -> LabInfo:
        return self._labs.start(spec)

    async def astart(self, spec: ScenarioSpec) -> LabInfo:
        return await self._labs.astart(spec)


@pytest.fixture
def maillab_lab_factory(tmp_path_factory: pytest.TempPathFactory
                        ) -> Iterator[LabFactory]:
    # Imported here so that merely having the plugin installed costs nothing.
    from maillab.verify.labthread import LabThread

    labs = LabThread(tmp_path_factory.mktemp("maillab-inline"))
    try:
        yield LabFactory(labs)
    finally:
        labs.close()


@pytest.fixture
def maillab_lab(request: pytest.FixtureRequest,
                maillab_lab_factory: LabFactory) -> LabInfo:
    spec = getattr(request, "param", None)
    if spec is None:
        marker = request.node.get_closest_marker("maillab_scenario")
        spec = marker.args[0] if marker and marker.args else DEFAULT_SCENARIO
    return maillab_lab_factory(spec)
