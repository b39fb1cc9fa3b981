"""iTHOR two-phase rearrangement (`embodied/Rearrange-iTHOR-v0`) driven by the FAKE controller.

No AI2-THOR player runs here: `embodied.envs.ai2thor.rearrange_fake.FakeRearrangeController` is a
fake (it says so in its docstring, its `is_fake` and every Event's metadata["fake"]) that answers
with real `ai2thor.server.Event` objects -- metadata of THOR 5's shape, frames decoded by the
Event's own methods -- so the adapter reads the package's real types. What these tests show is
that the adapter's rules, frames and metrics hold on those types; what THOR itself does with the
same calls is unverified here (no GPU, no player build).

Tasks: the fake's built-in ones (`split: fake`) and tests/data/ithor_rearrange/val.json, a
hand-made file in the challenge's format (scene -> list of task specs).
"""
from __future__ import annotations

import gzip
import json
import math
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import require_extra

require_extra("ai2thor", "thor", "EMBODIED_REQUIRE_THOR")

from ai2thor.server import Event  # noqa: E402
from gymnasium.utils.env_checker import check_env, data_equivalence  # noqa: E402

from embodied import metrics, registry  # noqa: E402
from embodied.config import ConfigError  # noqa: E402
from embodied.envs.ai2thor import controller as thor_core  # noqa: E402
from embodied.envs.ai2thor import rearrange_actions as acts  # noqa: E402
from embodied.envs.ai2thor import rearrange_episodes as eps  # noqa: E402
from embodied.envs.ai2thor.rearrange import (ENV_ID, IthorRearrangeConfig,  # noqa: E402
                                             IthorRearrangeEnv, list_ithor_episodes, pose_record,
                                             thor_quaternion)
from embodied.envs.ai2thor.rearrange_fake import FakeRearrangeController  # noqa: E402
from embodied.interfaces import REARRANGE_ACTION_NAMES, RearrangeAction  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "ithor_rearrange" / "val.json"
A = RearrangeAction
#: the index-based tests below use the embedded action set (RearrangeAction's numbers); the
#: challenge's own set (the default) has its tests at the end
SMALL = {"width": 64, "height": 64, "controller": "fake", "action_set": "embedded"}
#: where the agent sees fake task 2's Pen, shuffled to (2.3, 0.45, 0.6): x, z, rotation, horizon
PEN_SPOT = (2.3, 1.5, 180.0, 30.0)


def make(privileged: bool = True, **kwargs: Any) -> IthorRearrangeEnv:
    return IthorRearrangeEnv(IthorRearrangeConfig(**{"split": "fake", **SMALL, **kwargs}),
                             privileged=privileged)


def task(split: str, index: int) -> dict[str, Any]:
    cfg = IthorRearrangeConfig(split=split, **SMALL)
    return list_ithor_episodes(cfg)[index]


def teleport(env: IthorRearrangeEnv, x: float, z: float, rotation: float, horizon: float = 0.0):
    """Put the agent somewhere (tests only): a TeleportFull on the fake, then a fresh observation."""
    env.controller().step(action="TeleportFull", x=x, y=0.9009992, z=z,
                          rotation={"x": 0, "y": rotation, "z": 0}, horizon=horizon,
                          standing=True)
    assert env.controller().last_event.metadata["lastActionSuccess"]
    return env._observe()


def thor_object(env: IthorRearrangeEnv, name: str) -> dict[str, Any]:
    return next(o for o in env.controller().last_event.metadata["objects"] if o["name"] == name)


# ------------------------------------------------------------------------------ the fake
def test_the_fake_says_it_is_one_and_answers_with_real_events() -> None:
    ctrl = FakeRearrangeController(width=48, height=40)
    event = ctrl.step(action="RotateLeft")
    assert ctrl.is_fake and "FAKE" in FakeRearrangeController.__doc__
    assert "not AI2-THOR" in event.metadata["fake"]
    assert type(event) is Event and bool(event)
    assert event.frame.shape == (40, 48, 3) and event.frame.dtype == np.uint8
    assert event.depth_frame.shape == (40, 48) and event.depth_frame.dtype == np.float32
    # instance masks and 2-D boxes are the package's lazy types, decoded from the id frame
    assert type(event.instance_masks).__name__ == "LazyInstanceSegmentationMasks"
    seen = list(event.instance_masks.keys())
    assert seen and all("|" in k for k in seen)
    x0, y0, x1, y1 = event.instance_detections2D[seen[0]]
    assert event.instance_masks[seen[0]][y0:y1 + 1, x0:x1 + 1].any()
    for obj in event.metadata["objects"]:
        assert {"objectId", "objectType", "position", "rotation", "visible", "distance",
                "openness", "pickupable", "isBroken", "objectOrientedBoundingBox"} <= set(obj)
    assert event.metadata["agent"]["rotation"]["y"] == 270.0


# ------------------------------------------------------------------------------ dataset files
def test_reads_the_challenge_format_in_pickle_and_json(tmp_path: Path) -> None:
    tasks = eps.read_dataset(str(DATA))
    assert [t["episode_id"] for t in tasks] == ["FakeRearrangeRoom__val__0",
                                                "FakeRearrangeRoom__val__1"]
    assert tasks[1]["scene"] == "FakeRearrangeRoom" and tasks[1]["index"] == 1
    raw = json.loads(DATA.read_text())
    with gzip.open(tmp_path / "val.pkl.gz", "wb") as f:      # what compress_pickle writes
        pickle.dump(raw, f)
    eps.write_dataset(tmp_path / "other" / "val.json.gz", raw)
    assert eps.read_dataset("val", str(tmp_path)) == tasks                  # .pkl.gz first
    assert eps.read_dataset(str(tmp_path / "other" / "val.json.gz")) == tasks


def test_a_missing_dataset_says_where_to_get_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(eps.DATA_DIR_VARIABLE, raising=False)
    with pytest.raises(ConfigError, match="allenai/ai2thor-rearrangement") as err:
        eps.read_dataset("val", str(tmp_path))
    assert "env.dataset_dir" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(ConfigError, match="does not exist.*allenai/ai2thor-rearrangement"):
        eps.read_dataset(str(tmp_path / "nope.pkl.gz"))
    monkeypatch.setenv(eps.DATA_DIR_VARIABLE, str(DATA.parent))
    assert len(eps.read_dataset("val")) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"FloorPlan1": [{"agent_position": {}}]}))
    with pytest.raises(ConfigError, match="FloorPlan1__bad__0 lacks"):
        eps.read_dataset(str(bad))
    with pytest.raises(ConfigError, match="split fake"):
        IthorRearrangeConfig(split="fake", controller="ai2thor")


# ------------------------------------------------------------------------------ energy
def test_energy_of_a_hand_made_pose_difference_is_the_embedded_tasks_function() -> None:
    """A 0.1 m cube 1 m from its goal: no overlap, nearest corners 0.9 m apart, so the
    challenge's energy is 0.5 * 1 + 0.5 * 0.9 / 2 = 0.725 -- from THOR metadata through the
    adapter's records, and from the raw THOR-frame corners: the frame does not matter."""
    def cube(x: float, yaw: float) -> dict[str, Any]:
        corners = [[x + sx * 0.05, 0.8 + sy * 0.05, 2.0 + sz * 0.05]
                   for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
        return {"name": "Mug_1", "objectType": "Mug", "position": {"x": x, "y": 0.75, "z": 2.0},
                "rotation": {"x": 0.0, "y": yaw, "z": 0.0}, "openable": False, "openness": 0.0,
                "pickupable": True, "isBroken": False,
                "objectOrientedBoundingBox": {"cornerPoints": corners}}

    goal, moved = pose_record(cube(1.0, 0.0)), pose_record(cube(2.0, 0.0))
    assert metrics.pose_energy(goal, moved) == pytest.approx(0.725)
    thor_goal = {**goal, "bounding_box": cube(1.0, 0.0)["objectOrientedBoundingBox"]["cornerPoints"]}
    thor_moved = {**moved, "bounding_box": cube(2.0, 0.0)["objectOrientedBoundingBox"]["cornerPoints"]}
    assert metrics.pose_energy(thor_goal, thor_moved) == pytest.approx(0.725)
    # the same place turned 5 deg: centres < 1 cm and rotation < 10 deg apart -> energy 0
    assert metrics.pose_energy(goal, pose_record(cube(1.0, 5.0))) == 0.0
    # openables are scored by openness alone (tolerance 0.2)
    cab = {"name": "Cabinet_1", "objectType": "Cabinet", "position": {"x": 0, "y": 0, "z": 0},
           "rotation": {"x": 0, "y": 0, "z": 0}, "openable": True, "pickupable": False,
           "isBroken": False, "objectOrientedBoundingBox": None}
    open8, open5, open6 = (pose_record({**cab, "openness": v}) for v in (0.8, 0.5, 0.6))
    assert metrics.pose_energy(open8, open5) == 1.0 and metrics.pose_energy(open6, open5) == 0.0


def test_thor_rotations_become_the_frames_quaternions() -> None:
    """THOR's rotation.y = 90 (a left-handed turn from +z to +x) is a turn of -90 deg about the
    framework's z (from +X towards -Y); tilts about x and z keep the rotation's angle."""
    q = thor_quaternion({"x": 0.0, "y": 90.0, "z": 0.0})
    np.testing.assert_allclose(q, (0.0, 0.0, -math.sin(math.pi / 4), math.cos(math.pi / 4)), atol=1e-12)
    tilted = thor_quaternion({"x": 20.0, "y": 0.0, "z": 0.0})
    assert metrics.rotation_angle_deg((0, 0, 0, 1), tilted) == pytest.approx(20.0)


def test_metrics_start_energy_is_the_sum_over_the_tasks_objects() -> None:
    """The noop run of fake task 0 (the Apple moved, the Cabinet opened to 0.8): the env's start
    energy equals pose_energy summed over every scored object, computed here from the
    walkthrough's and the unshuffle's THOR metadata; nothing fixed, so end = start."""
    env = make()
    try:
        env.reset(seed=0, options={"episode": task("fake", 0)})
        goal = {o["name"]: pose_record(o) for o in env.controller().last_event.metadata["objects"]
                if o["openable"] or o["objectOrientedBoundingBox"] is not None}
        env.step(A.DONE)
        now = {o["name"]: pose_record(o) for o in env.controller().last_event.metadata["objects"]}
        expected = sum(metrics.pose_energy(goal[n], now[n]) for n in goal)
        apple = metrics.pose_energy(goal["Apple_fake0101"], now["Apple_fake0101"])
        # the Apple lies ~3.4 m from its goal (past the 2 m barrier), the Cabinet 0.8 off
        assert apple == 1.0 and metrics.pose_energy(goal["Cabinet_fake0005"],
                                                    now["Cabinet_fake0005"]) == 1.0
        m = env.step(A.DONE)[4]["metrics"]
    finally:
        env.close()
    assert m["start_energy"] == pytest.approx(expected) == pytest.approx(2.0)
    assert m["start_misplaced"] == 2 and m["end_energy"] == m["start_energy"]
    assert m["success"] == 0.0 and m["energy_remaining"] == 1.0 and m["unaddressable"] == 0


# ------------------------------------------------------------------------------ phases
def test_walkthrough_shows_the_goal_and_done_switches_to_the_shuffled_room() -> None:
    env = make()
    try:
        spec = task("fake", 0)
        obs, info = env.reset(seed=0, options={"episode": spec})
        assert obs["phase"] == 0 and info["phase"] == "walkthrough"
        assert info["actions"] == REARRANGE_ACTION_NAMES
        assert thor_object(env, "Apple_fake0101")["position"] == {"x": 0.85, "y": 0.75, "z": 3.85}
        assert thor_object(env, "Cabinet_fake0005")["openness"] == 0.0
        # interactions are refused in the walkthrough without a THOR call
        sent = len(env.controller().actions)
        out = env.step(A.PICKUP_APPLE)
        assert out[4]["last_action_success"] is False and len(env.controller().actions) == sent
        env.step(A.ROTATE_LEFT)
        obs, _, term, trunc, info = env.step(A.DONE)
        assert info["phase_switched"] and obs["phase"] == 1 and not (term or trunc)
        np.testing.assert_allclose(obs["pose"], 0.0, atol=1e-6)       # back at the start
        assert thor_object(env, "Apple_fake0101")["position"] == {"x": 2.6, "y": 0.45, "z": 0.85}
        assert thor_object(env, "Cabinet_fake0005")["openness"] == pytest.approx(0.8)
        obs, _, term, _, info = env.step(A.DONE)
        assert term and info["metrics"]["walkthrough_steps"] == 3 and info["metrics"]["steps"] == 4
        # the walkthrough's step limit switches too; the unshuffle's truncates
        env2 = make(walkthrough_steps=2, unshuffle_steps=2)
        try:
            env2.reset(seed=0, options={"episode": spec})
            assert "phase_switched" not in env2.step(A.ROTATE_LEFT)[4]
            assert env2.step(A.ROTATE_LEFT)[4]["phase_switched"]
            env2.step(A.ROTATE_LEFT)
            out = env2.step(A.ROTATE_LEFT)
            assert out[3] and not out[2] and "metrics" in out[4]
        finally:
            env2.close()
    finally:
        env.close()


def test_start_rotation_is_axis_aligned_as_the_challenge_forces() -> None:
    env = make(split=str(DATA))
    try:
        for k, want in ((0, 270.0), (1, 0.0)):          # 300 -> 270, 10 -> 0
            env.reset(seed=0, options={"episode": task(str(DATA), k)})
            assert env.controller().last_event.metadata["agent"]["rotation"]["y"] == want
    finally:
        env.close()


# ------------------------------------------------------------------------------ pickup / open
def test_pickup_takes_the_nearest_visible_object_of_its_type() -> None:
    objs = [{"name": "Mug_b", "objectType": "Mug", "visible": True, "distance": 1.0},
            {"name": "Mug_a", "objectType": "Mug", "visible": True, "distance": 1.0},
            {"name": "Mug_c", "objectType": "Mug", "visible": False, "distance": 0.2},
            {"name": "Cup_d", "objectType": "Cup", "visible": True, "distance": 0.1}]
    assert acts.pickup_target(objs, "Mug")["name"] == "Mug_a"      # ties by name; unseen never
    assert acts.pickup_target(objs, "Apple") is None
    # in the env: task 0 of the data file puts a second Mug on the dining table
    env = make(split=str(DATA))
    try:
        env.reset(seed=0, options={"episode": task(str(DATA), 0)})
        env.step(A.DONE)
        teleport(env, 1.5, 3.0, 0.0, horizon=30.0)
        mugs = [o for o in env.controller().last_event.metadata["objects"]
                if o["objectType"] == "Mug" and o["visible"]]
        assert len(mugs) == 2
        nearest = min(mugs, key=lambda o: (o["distance"], o["name"]))["name"]
        out = env.step(A.PICKUP_MUG)
        assert out[4]["last_action_success"] and out[0]["held"] == 6          # "Mug"
        held = env.controller().last_event.metadata["inventoryObjects"][0]["objectId"]
        assert thor_object(env, nearest)["objectId"] == held
        assert env.step(A.PICKUP_MUG)[4]["last_action_success"] is False        # full hands
    finally:
        env.close()


def test_opening_the_cabinet_back_to_its_goal_changes_the_metric() -> None:
    spec = task("fake", 0)

    def run(fix: bool, mode: str = "goal") -> dict[str, Any]:
        env = make(open_mode=mode)
        try:
            env.reset(seed=0, options={"episode": spec})
            env.step(A.DONE)
            teleport(env, 3.5, 1.75, 90.0)
            if fix:
                out = env.step(A.OPEN_BY_TYPE_CABINET)
                assert out[4]["last_action_success"]
                assert thor_object(env, "Cabinet_fake0005")["openness"] == 0.0
                if mode == "toggle":               # the 2023 rule toggles back to the start
                    assert env.step(A.OPEN_BY_TYPE_CABINET)[4]["last_action_success"]
                    assert thor_object(env, "Cabinet_fake0005")["openness"] == pytest.approx(0.8)
                    env.step(A.OPEN_BY_TYPE_CABINET)
            return env.step(A.DONE)[4]["metrics"]
        finally:
            env.close()

    left, fixed, toggled = run(False), run(True), run(True, "toggle")
    assert left["end_misplaced"] == 2 and fixed["end_misplaced"] == toggled["end_misplaced"] == 1
    assert fixed["end_energy"] == pytest.approx(left["end_energy"] - 1.0)
    assert fixed["fixed_strict"] == 0.5 and left["fixed_strict"] == 0.0
    # goal rule: a part already at its goal is never chosen
    objs = [{"name": "Cabinet_x", "objectType": "Cabinet", "visible": True, "openable": True,
             "openness": 0.1}]
    assert acts.open_target(objs, "Cabinet", "goal", {"Cabinet_x": 0.0}) is None
    assert acts.open_target(objs, "Cabinet", "goal", {"Cabinet_x": 0.5})["name"] == "Cabinet_x"


def test_snap_puts_the_held_object_at_its_goal_only_from_where_it_is_interactable() -> None:
    env = make()
    try:
        env.reset(seed=0, options={"episode": task("fake", 0)})
        env.step(A.DONE)
        teleport(env, 2.5, 1.75, 180.0, horizon=30.0)                  # the Apple on the table
        assert env.step(A.PICKUP_APPLE)[4]["last_action_success"]
        # far from its goal (the dining table): put down on a visible receptacle, False
        out = env.step(A.DROP_HELD_OBJECT_WITH_SNAP)
        assert out[4]["last_action_success"] is False and out[0]["held"] == -1
        apple = thor_object(env, "Apple_fake0101")
        assert not apple["isPickedUp"] and apple["parentReceptacles"]
        env.step(A.PICKUP_APPLE)
        teleport(env, 1.0, 3.0, 0.0, horizon=30.0)                     # facing its goal, near
        out = env.step(A.DROP_HELD_OBJECT_WITH_SNAP)
        assert out[4]["last_action_success"] and out[0]["held"] == -1
        assert thor_object(env, "Apple_fake0101")["position"] == {"x": 0.85, "y": 0.75, "z": 3.85}
        m = env.step(A.DONE)[4]["metrics"]
        assert m["num_fixed"] == 1 and m["end_misplaced"] == 1        # the Cabinet is left
    finally:
        env.close()


# ------------------------------------------------------------------------------ gym contract
@pytest.mark.parametrize("privileged", [False, True])
def test_passes_gymnasium_check_env(privileged: bool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = make(privileged, walkthrough_steps=20, unshuffle_steps=20)
        try:
            check_env(env)
        finally:
            env.close()
    unexpected = [str(w.message) for w in caught if "not having a spec" not in str(w.message)]
    assert not unexpected


def test_same_seed_same_rollout_and_observations_in_the_space() -> None:
    envs = [make(), make()]
    try:
        (a, ia), (b, ib) = (e.reset(seed=7) for e in envs)
        assert data_equivalence(a, b, exact=True) and ia["episode_id"] == ib["episode_id"]
        rng = np.random.default_rng(3)
        for _ in range(6):
            act = int(rng.integers(1, len(REARRANGE_ACTION_NAMES)))
            out_a, out_b = envs[0].step(act), envs[1].step(act)
            assert data_equivalence(out_a[0], out_b[0], exact=True)
            assert data_equivalence(out_a[4], out_b[4])
            assert out_a[0] in envs[0].observation_space
    finally:
        for e in envs:
            e.close()


def test_privileged_boxes_are_the_visible_rearrangeables() -> None:
    env = make()
    try:
        obs, info = env.reset(seed=0, options={"episode": task("fake", 1)})
        obs = teleport(env, 1.0, 3.0, 0.0, horizon=30.0)
        rows = obs["boxes"][obs["boxes"][:, 0] >= 0]
        names = {info["privileged"]["instances"][int(r[0])]["name"] for r in rows}
        assert {"Apple_fake0101", "Mug_fake0102", "Pen_fake0107"} <= names
        for iid, cat, x0, y0, x1, y1 in rows:
            mask = obs["instance"] == iid
            assert mask[y0:y1 + 1, x0:x1 + 1].sum() == mask.sum() > 0
            assert (obs["semantic"][mask] == cat).all()
        assert "boxes" not in make(privileged=False).reset(seed=0)[0]
    finally:
        env.close()


# ------------------------------------------------------------------------------ agents
def _run(env: IthorRearrangeEnv, agent: Any, spec: dict[str, Any]) -> tuple[dict[str, Any], int]:
    obs, info = env.reset(seed=0, options={"episode": spec})
    agent.reset({"episode_id": spec["episode_id"], **info, "seed": 0})
    switched = 0
    for _ in range(800):
        obs, _, term, trunc, info = env.step(agent.act(obs))
        switched += bool(info.get("phase_switched"))
        if term or trunc:
            return info["metrics"], switched
    raise AssertionError("the episode did not end")


@pytest.mark.parametrize("split,index", [("fake", 0), ("fake", 1), ("fake", 2),
                                         (str(DATA), 0), (str(DATA), 1)])
def test_the_oracle_fixes_every_addressable_change(split: str, index: int) -> None:
    """The PyBullet oracle, unchanged, plans on the adapter's privileged info (frames, lattice,
    changes) and acts with its actions: every change the framework's actions can fix is fixed
    (fake task 2's Pen is not: its type has no pickup action)."""
    registry.load_builtin()
    from embodied.agents.rearrange_oracle import RearrangeOracleConfig

    env = make(split=split)
    try:
        m, switched = _run(env, registry.make_agent(RearrangeOracleConfig()), task(split, index))
    finally:
        env.close()
    assert switched == 1
    assert m["end_misplaced"] == m["unaddressable"] and m["newly_misplaced"] == 0
    assert m["success"] == (1.0 if m["unaddressable"] == 0 else 0.0)


def test_noop_runs_both_phases_and_changes_nothing() -> None:
    registry.load_builtin()
    from embodied.agents.noop import NoopConfig

    env = make()
    try:
        m, switched = _run(env, registry.make_agent(NoopConfig()), task("fake", 2))
    finally:
        env.close()
    assert switched == 1 and m["steps"] == 2 and m["energy_remaining"] == 1.0
    assert m["unaddressable"] == 1 and m["start_misplaced"] == 2


@pytest.mark.parametrize("paper,action_set", [(False, "embedded"), (True, "embedded"), (False, "challenge")],
                         ids=["csr", "csr_paper", "csr-challenge-actions"])
def test_csr_runs_a_full_two_phase_episode(tmp_path: Path, paper: bool, action_set: str) -> None:
    """The CSR agents, unchanged, on the fake room (tiny untrained encoders, as the PyBullet
    tests use): a walkthrough ended by their own `done`, an unshuffle, the challenge's metrics."""
    import torch

    from embodied.agents.csr import CSRAgent, CSRAgentConfig, CSRPaperConfig
    from embodied.perception.csr_encoder import CSREncoder, EncoderConfig, save_encoder

    torch.manual_seed(0)
    scene = save_encoder(CSREncoder(EncoderConfig(input_size=32, width=8, emb_dim=16, kind="scene")),
                         tmp_path / "scene.pt")
    obj = save_encoder(CSREncoder(EncoderConfig(input_size=32, width=8, emb_dim=16, kind="object")),
                       tmp_path / "object.pt")
    cls = CSRPaperConfig if paper else CSRAgentConfig
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    env = make(action_set=action_set)
    try:
        agent = CSRAgent(cls(scene_model=str(scene), object_model=str(obj), walkthrough_budget=30,
                             revisit_budget=5, threads=1))
        m, switched = _run(env, agent, task("fake", 0))
    finally:
        env.close()
        torch.set_num_threads(threads)
    assert switched == 1 and 1 <= m["walkthrough_steps"] <= 31
    assert {"success", "fixed_strict", "misplaced", "energy_remaining"} <= set(m)
    assert m["steps"] > m["walkthrough_steps"]


def test_the_experiment_runs_through_the_runner_on_the_fake(tmp_path: Path) -> None:
    from embodied.config import load_config
    from embodied.runner import run_experiment

    registry.load_builtin()
    cfg = load_config(REPO / "experiments" / "csr_ithor_rearrange.yaml",
                      ["env.controller=fake", "env.split=fake", "env.episodes=2",
                       "env.width=48", "env.height=48", "agent.id=noop",
                       f"run.output={tmp_path / 'run'}", "run.progress=false"])
    assert cfg.env.walkthrough_steps == 250 and cfg.env.thor.field_of_view == 90.0
    summary = run_experiment(cfg)
    lines = (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["error"] for r in records] == [None, None] and summary["episodes"] == 2
    assert all(r["scene"] == "FakeRearrangeRoom" and r["renderer"] == "fake" for r in records)


# ------------------------------------------------------------------------------ honesty
def test_without_the_package_the_error_names_the_extra(monkeypatch) -> None:
    monkeypatch.setattr(thor_core, "_package_missing", lambda: True)
    with pytest.raises(ConfigError, match=r"pip install -e \.\[thor\]"):
        IthorRearrangeEnv(IthorRearrangeConfig(controller="ai2thor"))


def test_without_a_player_build_or_gpu_the_error_says_what_is_missing(tmp_path: Path,
                                                                      monkeypatch) -> None:
    """Checked when the env is built, before any episode: here there is no player build in an
    empty releases folder, and no GPU device is visible."""
    monkeypatch.setattr(thor_core, "RELEASES_DIR", str(tmp_path))
    monkeypatch.setattr(thor_core, "_gpu_present", lambda: False)
    monkeypatch.setattr(thor_core.check_thor_available, "__defaults__", (str(tmp_path),))
    with pytest.raises(thor_core.ThorUnavailable) as err:
        IthorRearrangeEnv(IthorRearrangeConfig(controller="ai2thor"))
    text = str(err.value)
    assert "player build" in text and "GPU" in text


def test_registration_is_cheap_and_lists_the_tasks() -> None:
    # imported here, not at collection: until embodied/envs/__init__.py imports it (and
    # embodied/__init__.py lists the Gym id), a registration made at collection time would show
    # up in tests/test_envs.py's check that every built-in env has a Gym id
    from embodied.envs.ai2thor import rearrange_registration  # noqa: F401

    assert registry.get("env", ENV_ID).cls is IthorRearrangeEnv
    cfg = IthorRearrangeConfig(split=str(DATA), controller="fake", episodes=1)
    assert [e["episode_id"] for e in registry.list_episodes(cfg)] == ["FakeRearrangeRoom__val__0"]
    code = ("import sys, json, embodied.envs.ai2thor.rearrange_registration\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'ai2thor')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []



# ------------------------------------------------------------------------------ the challenge's action set
def test_the_challenge_action_set_is_the_default_and_names_every_type() -> None:
    from embodied.interfaces import (ITHOR_OPENABLE_TYPES, ITHOR_PICKUPABLE_TYPES, REARRANGE_FIXED_ACTIONS,
                                     rearrange_action_names)

    env = IthorRearrangeEnv(IthorRearrangeConfig(split="fake", width=64, height=64, controller="fake"),
                            privileged=True)
    try:
        obs, info = env.reset(seed=0, options={"episode": task("fake", 2)})
        names = info["actions"]
        assert names == rearrange_action_names(ITHOR_PICKUPABLE_TYPES, ITHOR_OPENABLE_TYPES)
        assert len(names) == 10 + 10 + 62 == env.action_space.n
        assert names[:10] == REARRANGE_FIXED_ACTIONS              # the same numbers as the embedded set
        assert names[10] == "open_by_type_blinds" and names[-1] == "pickup_wine_bottle"
        assert info["pickupable_types"] == ITHOR_PICKUPABLE_TYPES
        assert env.observation_space["held"].n == 63 and obs["held"] == -1
        env.step(names.index("done"))                              # to the unshuffle phase
        # the Pen, which the embedded set cannot pick up, is now one action among the others
        teleport(env, *PEN_SPOT)
        out = env.step(names.index("pickup_pen"))
        assert out[4]["last_action_success"], out[4]
        assert ITHOR_PICKUPABLE_TYPES[int(out[0]["held"])] == "Pen"
        m = env.step(names.index("done"))[4]["metrics"]
    finally:
        env.close()
    assert m["unaddressable"] == 0


@pytest.mark.parametrize("action_set,unaddressable", [("embedded", 1), ("challenge", 0)])
def test_the_oracle_fixes_the_pen_only_with_the_challenge_actions(action_set: str, unaddressable: int) -> None:
    """Fake task 2 shuffled a Pen: with the challenge's actions it is fixable, and the PyBullet
    oracle, unchanged, fixes it (it finds its actions by name in info["actions"])."""
    registry.load_builtin()
    from embodied.agents.rearrange_oracle import RearrangeOracleConfig

    env = make(action_set=action_set)
    try:
        m, switched = _run(env, registry.make_agent(RearrangeOracleConfig()), task("fake", 2))
    finally:
        env.close()
    assert switched == 1 and m["unaddressable"] == unaddressable
    assert m["end_misplaced"] == unaddressable and m["success"] == (1.0 if unaddressable == 0 else 0.0)
