"""SfA's failure analysis (`articulation_metrics.failure_causes`) on hand-made estimates, one per
cause, and the run summary's sum of them: what a researcher reads to see where the method breaks."""
from __future__ import annotations

import numpy as np
import pytest

from embodied.envs.articulation_metrics import CAUSES, failure_causes
from embodied.results import summarize

DOOR = {"joint": "door_hinge", "child": "door", "type": "revolute", "axis": [0, 0, 1], "origin": [0.2, 0.3, 0]}
DRAWER = {"joint": "drawer_slide", "child": "drawer", "type": "prismatic", "axis": [1, 0, 0], "origin": [0.2, 0, 0.2]}


def _slab(x0: float, y0: float, z0: float, size: tuple[float, float, float]) -> np.ndarray:
    """Points on a 1 cm grid filling a box: a part's cloud."""
    axes = [np.arange(a, a + s, 0.01) for a, s in zip((x0, y0, z0), size)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


PARTS = {"door": _slab(0.2, -0.3, 0.3, (0.02, 0.6, 0.4)), "drawer": _slab(0.2, -0.3, 0.0, (0.02, 0.6, 0.2))}


def causes(joints, touched=("door", "drawer"), motion=None):
    motion = {"door_hinge": 0.5, "drawer_slide": 0.1} if motion is None else motion
    return {k: v for k, v in failure_causes({"joints": joints}, [DOOR, DRAWER], PARTS, touched, motion).items() if v}


def good(t, part):
    return {**t, "points": PARTS[part].tolist()}


def test_each_cause_is_named() -> None:
    assert causes([good(DOOR, "door"), good(DRAWER, "drawer")]) == {"ok": 2}
    assert causes([good(DOOR, "door")], touched=("door",)) == {"ok": 1, "no handle found": 1}
    assert causes([good(DOOR, "door")], motion={"door_hinge": 0.5, "drawer_slide": 0.002}) == \
        {"ok": 1, "no motion": 1}
    assert causes([good(DOOR, "door")]) == {"ok": 1, "fit failed": 1}
    assert causes([good(DOOR, "door"), {**good(DRAWER, "drawer"), "type": "revolute"}]) == {"ok": 1, "wrong type": 1}
    both = np.concatenate([PARTS["door"], PARTS["drawer"]])
    assert causes([{**DOOR, "points": both.tolist()}, good(DRAWER, "drawer")]) == {"merged parts": 1, "ok": 1}
    tilted = {**good(DOOR, "door"), "axis": [0, np.sin(np.radians(15)), np.cos(np.radians(15))]}
    assert causes([tilted, good(DRAWER, "drawer")]) == {"wrong axis": 1, "ok": 1}
    shifted = {**good(DOOR, "door"), "origin": [0.2, 0.45, 0.1]}          # hinge line 0.15 m away
    assert causes([shifted, good(DRAWER, "drawer")]) == {"wrong axis": 1, "ok": 1}
    assert causes([{**DOOR, "points": PARTS["door"][:300].tolist()}, good(DRAWER, "drawer")]) == \
        {"partial part": 1, "ok": 1}


def test_a_part_carried_by_a_grabbed_link_counts_as_touched() -> None:
    """A door on a drawer: pulling the door's handle can open the drawer too."""
    drawer = {**DRAWER, "descendants": ["door"]}
    got = failure_causes({"joints": [good(DOOR, "door")]}, [DOOR, drawer], PARTS, ["door"],
                         {"door_hinge": 0.5, "drawer_slide": 0.1})
    assert got["fit failed"] == 1 and got["no handle found"] == 0


def test_the_summary_sums_the_causes_over_objects() -> None:
    recs = [{"episode_id": "a", "joint_type_accuracy": 1.0, "failures": {"ok": 2, "no motion": 0}},
            {"episode_id": "b", "joint_type_accuracy": 0.5, "failures": {"ok": 1, "no motion": 1}},
            {"episode_id": "c", "joint_type_accuracy": 1.0}]
    summary = summarize(recs)
    assert summary["failures"] == {"ok": 3, "no motion": 1}
    assert "failures" not in summary["metrics"] and summary["metrics"]["joint_type_accuracy"] == pytest.approx(2.5 / 3)
    assert "failures" not in summarize([{"episode_id": "x", "success": True}])
    assert set(CAUSES) >= {"no handle found", "no motion", "fit failed", "wrong type", "merged parts"}
