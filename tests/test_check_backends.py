"""scripts/check_backends.py: the one-command install check of the AI2-THOR and Habitat backends.

Neither simulator can run here, so: on the fakes (`--fake`) every backend's block comes out in the
documented format with the env's own metrics; without them, each backend fails with its fix and
the script exits 1, at once.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import require_extra

require_extra("ai2thor", "thor", "EMBODIED_REQUIRE_THOR")

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_backends", REPO / "scripts/check_backends.py")
check_backends = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_backends)


def test_every_backend_reports_on_its_fake(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_backends.main(["--fake", "--backends", "thor", "habitat", "ithor"]) == 0
    out = capsys.readouterr().out
    blocks = [b for b in out.split("== ") if b.strip()]
    assert [b.split(":")[0] for b in blocks] == ["thor", "habitat", "ithor"]
    for block in blocks:
        lines = block.strip().splitlines()
        assert [line.split()[0] for line in lines[1:]] == ["ok", "frames", "pose", "metrics", "extra"], block
    assert "embodied/ObjectNav-RoboTHOR-v0" in blocks[0] and "spl_ai2thor" in blocks[0]
    assert "rgb (120, 160, 3) uint8" in blocks[0] and "depth (120, 160, 1) float32" in blocks[0]
    assert "geodesic_navmesh" in blocks[1] and "simulator fake" in blocks[1]
    assert "end_energy" in blocks[2]


def test_without_the_simulators_each_backend_fails_with_its_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code = check_backends.main(["--backends", "thor", "habitat"])
    out = capsys.readouterr().out
    thor, habitat = [b for b in out.split("== ") if b.strip()]
    if "\nok " in thor and "\nok " in habitat:
        pytest.skip("both simulators run on this machine")
    assert code == 1
    if "\nok " not in thor:
        assert "FAILED" in thor and "AI2-THOR cannot start" in thor
    if "\nok " not in habitat:
        assert "FAILED" in habitat and "conda install habitat-sim" in habitat
