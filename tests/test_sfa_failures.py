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


def _grid(x0: int, n: int) -> np.ndarray:
    """n points at the centres of 1 cm voxels in a row starting at voxel x0 (no float edge cases)."""
    return np.stack([(np.arange(x0, x0 + n) + 0.5) * 0.01, np.full(n, 0.005), np.full(n, 0.005)], 1)


def test_every_part_is_counted_and_thresholds_are_strict() -> None:
    """Two parts with the same fate count 2; an unmatched part before a matched one still counts;
    parts or predictions without points; exact thresholds (IoU 0.5, a 25 % overlap, 1 cm)."""
    both = {"door_hinge": 0.5, "drawer_slide": 0.1}
    assert causes([], touched=()) == {"no handle found": 2}
    assert causes([], motion={"door_hinge": 0.0, "drawer_slide": 0.0}) == {"no motion": 2}
    assert causes([], motion={}) == {"no motion": 2}                   # never moved = not in the table
    assert causes([], motion={"door_hinge": 0.5, "drawer_slide": 0.01}) == {"fit failed": 2}   # 1 cm exactly: moved
    assert causes([]) == {"fit failed": 2}
    assert causes([good(DRAWER, "drawer")]) == {"fit failed": 1, "ok": 1}  # the unmatched door comes first
    assert causes([{**good(DOOR, "door"), "type": "prismatic"}, {**good(DRAWER, "drawer"), "type": "revolute"}]) \
        == {"wrong type": 2}
    tilt = [0, np.sin(np.radians(15)), np.cos(np.radians(15))]
    assert causes([{**good(DOOR, "door"), "axis": tilt}, {**good(DRAWER, "drawer"), "axis": [np.cos(0.3), np.sin(0.3), 0]}]) \
        == {"wrong axis": 2}
    assert causes([{**DOOR, "points": PARTS["door"][:300].tolist()},
                   {**DRAWER, "points": PARTS["drawer"][:200].tolist()}]) == {"partial part": 2}
    whole = np.concatenate([PARTS["door"], PARTS["drawer"]]).tolist()
    assert causes([{**DOOR, "points": whole}, {**DRAWER, "points": whole}]) == {"merged parts": 2}
    # no points on either side: no segmentation verdicts, the joint alone decides
    assert {k: v for k, v in failure_causes({"joints": [DOOR, DRAWER]}, [DOOR, DRAWER], {}, ["door", "drawer"],
                                            both).items() if v} == {"ok": 2}
    # exact thresholds on voxel-centre points: IoU exactly 0.5 is not partial; a share of exactly
    # 25 % on another part is merged, one voxel of 40 is not
    parts = {"door": _grid(0, 40), "drawer": _grid(100, 40)}
    def on_grid(door_pts):
        return {k: v for k, v in failure_causes({"joints": [{**DOOR, "points": door_pts.tolist()},
                                                           {**DRAWER, "points": parts["drawer"].tolist()}]},
                                               [DOOR, DRAWER], parts, ["door", "drawer"], both).items() if v}
    assert on_grid(parts["door"][:20]) == {"ok": 2}                       # IoU 20/40 = 0.5
    assert on_grid(np.concatenate([parts["door"][:30], parts["drawer"][:10]])) == {"merged parts": 1, "ok": 1}
    assert on_grid(np.concatenate([parts["door"], parts["drawer"][:1]])) == {"ok": 2}
