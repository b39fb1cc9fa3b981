"""Every registered env, tested the way Gymnasium tests its own (gymnasium's tests/envs/test_envs.py),
plus the boundary between envs and agents: what an agent receives never aliases env state, agents
and perception never import an env, and the two share one action vocabulary.

Small images throughout (the env kwargs), so the whole file runs in well under a minute on 2 cores.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import embodied
from embodied import registry
from embodied.interfaces import NAVIGATION_ACTION_NAMES, DiscreteNavigationAction

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "embodied"

OBJECTNAV = "embodied/ObjectNav-PyBullet-v0"
ARTICULATION = "embodied/Articulation-PyBullet-v0"
REARRANGE = "embodied/Rearrange-PyBullet-v0"
ROBOTHOR = "embodied/ObjectNav-RoboTHOR-v0"
ITHOR_REARRANGE = "embodied/Rearrange-iTHOR-v0"
HABITAT = "embodied/ObjectNav-Habitat-v0"
#: every Gym id the package registers, with the smallest settings that still exercise it (the
#: AI2-THOR and Habitat envs on their fakes: the simulators cannot run here, see their tests)
SMALL: dict[str, dict[str, Any]] = {
    OBJECTNAV: {"width": 64, "height": 64, "max_steps": 50},
    ARTICULATION: {"width": 64, "height": 48, "max_interactions": 6},
    REARRANGE: {"width": 64, "height": 64, "walkthrough_steps": 20, "unshuffle_steps": 20},
    ROBOTHOR: {"controller": "fake", "thor": {"width": 64, "height": 48}, "max_steps": 50},
    ITHOR_REARRANGE: {"width": 64, "height": 64, "walkthrough_steps": 20, "unshuffle_steps": 20,
                      "controller": "fake", "split": "fake"},
    HABITAT: {"width": 64, "height": 64, "max_steps": 50, "simulator": "fake",
              "split": str(REPO / "tests/data/habitat/objectnav_fake.json.gz")},
}
NAVIGATION = (OBJECTNAV, ROBOTHOR, HABITAT)

#: Warnings check_env may raise and why each is accepted; anything else fails the test.
ALLOWED_WARNINGS: dict[str, tuple[str, ...]] = {
    OBJECTNAV: (),
    ARTICULATION: (
        # the action's point and distance are in metres (a point anywhere near the object, a pull
        # of up to 0.5 m), so the Box is deliberately not normalised to [-1, 1]
        "For Box action spaces, we recommend using a symmetric and normalized space",
    ),
    REARRANGE: (),
    ROBOTHOR: (),
    ITHOR_REARRANGE: (),
    HABITAT: (),
}

registry.load_builtin()


def make(env_id: str, privileged: bool, **kwargs: Any) -> gym.Env:
    """The env as users build it: by id, through gymnasium.make."""
    return gym.make(env_id, privileged=privileged, **{**SMALL[env_id], **kwargs})


# ------------------------------------------------------------------------------ registration
def test_every_builtin_env_is_registered_once_in_each_registry() -> None:
    """The package's Gym ids (one site: embodied/__init__.py) are exactly the project registry's
    built-in envs, with the same classes, and this file tests every one of them."""
    builtin = {i for i in registry.ids("env")
               if (registry.get("env", i).registered_by or "").startswith(registry.BUILTIN_PACKAGES)}
    assert builtin == set(embodied._GYM_IDS) == set(SMALL)
    for env_id in builtin:
        assert gym.spec(env_id).entry_point == embodied._GYM_IDS[env_id]
        module, name = embodied._GYM_IDS[env_id].split(":")
        assert registry.get("env", env_id).cls is getattr(__import__(module, fromlist=[name]), name)


def test_no_module_but_the_package_init_registers_gym_ids() -> None:
    """One registration site per env: a second `gymnasium.register` would drift from the first."""
    sites = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "register" and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id in ("gym", "gymnasium", "_gym"):
                sites.append(str(path.relative_to(REPO)))
    assert sites == ["embodied/__init__.py"]


def _fresh_python(code: str) -> dict[str, Any]:
    """Run `code` in a new interpreter (nothing imported yet) and return what it printed as JSON."""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_embodied_registers_the_gym_ids_without_importing_a_simulator() -> None:
    """`import embodied` is enough for gymnasium.make, and stays cheap: no env, no simulator."""
    seen = _fresh_python(
        "import json, sys, gymnasium, embodied\n"
        "heavy = sorted(m for m in sys.modules if m == 'pybullet' or m.startswith('embodied.envs'))\n"
        "ids = sorted(i for i in gymnasium.registry if i in embodied._GYM_IDS)\n"
        f"env = gymnasium.make({OBJECTNAV!r}, width=32, height=32)\n"
        "print(json.dumps({'ids': ids, 'heavy': heavy, 'made': type(env.unwrapped).__name__}))")
    assert seen == {"ids": sorted(SMALL), "heavy": [], "made": "ObjectNavEnv"}


# ------------------------------------------------------------------------------ env checker
@pytest.mark.parametrize("privileged", [False, True])
@pytest.mark.parametrize("env_id", sorted(SMALL))
def test_env_passes_gymnasium_check_env_without_warnings(env_id: str, privileged: bool) -> None:
    """gymnasium's own checker (spaces, seeding, determinism, returned data never reused, render,
    close), failing on any warning not in ALLOWED_WARNINGS."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = make(env_id, privileged)
        try:
            check_env(env.unwrapped)
        finally:
            env.close()
    unexpected = [f"{w.category.__name__}: {w.message}" for w in caught
                  if not any(allowed in str(w.message) for allowed in ALLOWED_WARNINGS[env_id])]
    assert not unexpected, "\n".join(unexpected)


def _action(env_id: str, obs: dict[str, Any], rng: np.random.Generator) -> Any:
    """A random action from the same RNG for both envs. SfA pulls act on a point of the object's
    cloud (a uniform point in the 10 m action box would almost always grab nothing, so no
    physics would run); ObjectNav's are uniform but Stop, so the rollout lasts."""
    if env_id in NAVIGATION:
        return DiscreteNavigationAction(int(rng.integers(len(DiscreteNavigationAction) - 1)))
    if env_id in (REARRANGE, ITHOR_REARRANGE):        # anything but "done" (action 0)
        return int(rng.integers(1, len(embodied.interfaces.REARRANGE_ACTION_NAMES)))
    n = int(obs["num_points"][0])
    direction = rng.normal(size=3)
    return {"point": obs["points"][int(rng.integers(n))].copy(),
            "direction": (direction / np.linalg.norm(direction)).astype(np.float32),
            "distance": np.array([rng.uniform(0.05, 0.3)], np.float32)}


@pytest.mark.parametrize("privileged", [False, True])
@pytest.mark.parametrize("env_id", sorted(SMALL))
def test_same_seed_same_actions_same_rollout_inside_the_observation_space(env_id: str,
                                                                          privileged: bool) -> None:
    """Two envs, one seed, the same random actions: equal observations, rewards, terminations
    and infos at every step; and every observation lies in `observation_space`."""
    steps = 12 if env_id == OBJECTNAV else 3
    envs = [make(env_id, privileged).unwrapped for _ in range(2)]
    try:
        (obs_a, info_a), (obs_b, info_b) = (e.reset(seed=7) for e in envs)
        assert data_equivalence(obs_a, obs_b, exact=True)
        assert info_a["episode_id"] == info_b["episode_id"]
        assert obs_a in envs[0].observation_space
        assert ("segmentation" in obs_a or "semantic" in obs_a) == privileged
        rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(steps):
            out_a = envs[0].step(_action(env_id, obs_a, rng_a))
            out_b = envs[1].step(_action(env_id, obs_b, rng_b))
            obs_a, obs_b = out_a[0], out_b[0]
            assert data_equivalence(obs_a, obs_b, exact=True)
            assert out_a[1:4] == out_b[1:4]                       # reward, terminated, truncated
            assert data_equivalence(out_a[4], out_b[4])
            assert obs_a in envs[0].observation_space, [k for k, v in obs_a.items()
                                                        if v not in envs[0].observation_space[k]]
            if out_a[2] or out_a[3]:
                break
    finally:
        for e in envs:
            e.close()


# ------------------------------------------------------------------------------ no aliasing
def scribble(data: Any, seen: set[int] | None = None) -> None:
    """What a careless (or malicious) agent could do: overwrite every array it was handed,
    reach into every object's attributes, and empty every dict and list."""
    seen = set() if seen is None else seen
    if id(data) in seen:
        return
    seen.add(id(data))
    if isinstance(data, np.ndarray):
        if data.dtype == bool:
            np.logical_not(data, out=data)
        elif data.dtype != object:
            data[...] = 0
    elif isinstance(data, dict):
        for value in list(data.values()):
            scribble(value, seen)
        data.clear()
    elif isinstance(data, list):
        for value in data:
            scribble(value, seen)
        data.clear()
    elif isinstance(data, tuple):
        for value in data:
            scribble(value, seen)
    elif dataclasses.is_dataclass(data) or hasattr(data, "__dict__") and not isinstance(data, type):
        for value in list(vars(data).values()):
            scribble(value, seen)


def test_an_objectnav_agent_that_writes_into_what_it_got_changes_no_score() -> None:
    """The audit's bug: an agent zeroing `info["privileged"]["goal_field"]` made the next
    episode's shortest path 0 (soft-SPL 1.0 for a Stop at the start). Nothing an agent receives
    (observation, reset and step info, privileged or not) may alias what the env scores with."""
    from embodied.envs import objectnav_episodes as eps

    env = make(OBJECTNAV, True).unwrapped
    episode = eps.split_episode("val", 0)
    try:
        env.reset(seed=0, options={"episode": episode})
        clean = env.step(DiscreteNavigationAction.STOP)[4]["metrics"]
        assert clean["shortest_path_length"] > 0.0
        for _ in range(2):
            obs, info = env.reset(seed=0, options={"episode": episode})
            assert info["privileged"]["goal_field"].any()
            frame = {k: v.copy() for k, v in env._frame.items()}   # what render() draws
            scribble(obs)
            scribble(info)
            assert data_equivalence(env._frame, frame, exact=True)
            step_obs, *_, step_info = env.step(DiscreteNavigationAction.STOP)
            assert step_info["metrics"] == clean
            scribble(step_obs)
            scribble(step_info)
        assert env.reset(seed=0, options={"episode": episode})[1]["privileged"]["goal_field"].any()
        assert env.step(DiscreteNavigationAction.STOP)[4]["metrics"] == clean
    finally:
        env.close()


def test_an_sfa_agent_that_writes_into_its_observation_changes_nothing_the_env_keeps() -> None:
    """Depth backs pixel actions and the cloud and segmentation back scoring: an agent that
    overwrites its observation must change neither."""
    from embodied.envs.articulation import split_episodes

    env = make(ARTICULATION, True).unwrapped
    try:
        obs, info = env.reset(seed=0, options={"episode": split_episodes("val", 1)[0]})
        v, u = np.argwhere(obs["depth"][0] < env.far)[0]
        point, links = env.pixel_point((0, v, u)), env.point_links(obs)
        start_parts = {k: p.copy() for k, p in env.start_part_points.items()}
        frame = env._last_rgb.copy()
        scribble(obs)
        scribble(info)
        np.testing.assert_array_equal(env.pixel_point((0, v, u)), point)
        np.testing.assert_array_equal(env.point_links(), links)
        np.testing.assert_array_equal(env._last_rgb, frame)
        assert start_parts.keys() == env.start_part_points.keys()
        for k, p in start_parts.items():
            np.testing.assert_array_equal(env.start_part_points[k], p)
    finally:
        env.close()


# ------------------------------------------------------------------------------ actions
@pytest.mark.parametrize("field", ["point", "direction", "distance"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_articulation_rejects_non_finite_actions_naming_the_field(field: str, bad: float) -> None:
    env = make(ARTICULATION, False).unwrapped
    try:
        env.reset(seed=0)
        action = {"point": np.zeros(3, np.float32), "direction": np.array([1, 0, 0], np.float32),
                  "distance": np.array([0.1], np.float32)}
        action[field] = action[field].copy()
        action[field][0] = bad
        with pytest.raises(ValueError, match=field):
            env.step(action)
        assert env.interactions == 0                  # refused, not counted
    finally:
        env.close()


def test_one_navigation_action_vocabulary() -> None:
    """Env, planner and agents share `DiscreteNavigationAction`; values are the env's contract."""
    from embodied.envs import objectnav
    from embodied.perception import planner

    assert [(a.name, int(a)) for a in DiscreteNavigationAction] == [
        ("MOVE_AHEAD", 0), ("ROTATE_LEFT", 1), ("ROTATE_RIGHT", 2), ("LOOK_UP", 3),
        ("LOOK_DOWN", 4), ("STOP", 5)]
    assert objectnav.ACTIONS == NAVIGATION_ACTION_NAMES == (
        "MoveAhead", "RotateLeft", "RotateRight", "LookUp", "LookDown", "Stop")
    for module in (objectnav, planner):
        assert module.STOP is DiscreteNavigationAction.STOP
        assert module.MOVE_AHEAD is DiscreteNavigationAction.MOVE_AHEAD
    env = make(OBJECTNAV, False).unwrapped
    try:
        assert env.action_space.n == len(DiscreteNavigationAction)
    finally:
        env.close()


# ------------------------------------------------------------------------------ privileged path
def test_the_runner_path_builds_a_privileged_articulation_env() -> None:
    """The runner builds envs with `registry.make_env(cfg, privileged=True)` for privileged
    agents: ArticulationEnv takes the switch, and only then hands out the segmentation."""
    from embodied.envs.articulation import ArticulationConfig

    cfg = ArticulationConfig(**SMALL[ARTICULATION])
    for privileged in (False, True):
        env = registry.make_env(cfg, privileged=privileged)
        try:
            obs, _ = env.reset(seed=0)
            assert ("segmentation" in obs) == ("segmentation" in env.observation_space.spaces) \
                == privileged
            if privileged:
                np.testing.assert_array_equal(obs["segmentation"], env._last_seg)
        finally:
            env.close()


def test_articulation_info_carries_ground_truth_only_when_privileged() -> None:
    """The true joints, link names, joint states and the grabbed link are ground truth: an
    unprivileged SfA agent must not find them in `info` after reset, a pull or "done"."""
    from embodied.envs.articulation import PRIVILEGED_INFO, ArticulationConfig

    cfg = ArticulationConfig(**SMALL[ARTICULATION])
    for privileged in (False, True):
        env = registry.make_env(cfg, privileged=privileged)
        try:
            obs, info = env.reset(seed=0)
            cloud = obs["points"][: int(obs["num_points"][0])]
            pull = {"point": cloud[len(cloud) // 2], "direction": np.array([0.0, -1.0, 0.0]),
                    "distance": np.array([0.1])}
            step_info = env.step(pull)[4]
            done_info = env.step({**pull, "distance": np.array([0.0])})[4]
            for got in (info, step_info, done_info):
                leaked = sorted(set(PRIVILEGED_INFO) & set(got))
                assert bool(leaked) == privileged, leaked
            assert privileged == ("ground_truth" in info and "joint_states" in step_info)
            assert info["max_interactions"] and "metrics" in done_info   # the rest stays
        finally:
            env.close()


def test_ground_truth_localizer_takes_category_ids_from_the_env() -> None:
    """No ids of its own: the names and ids are whatever the env's reset info says."""
    from embodied.perception.localization.ground_truth import GroundTruthLocalizer

    loc = GroundTruthLocalizer()
    loc.reset({"goal": "Apple", "categories": {"background": 0, "AlarmClock": 9, "Apple": 4}})
    semantic = np.array([[0, 4], [9, 4]], np.int32)
    np.testing.assert_array_equal(loc.relevance({"semantic": semantic}, "Apple"), [[0, 1], [0, 1]])
    np.testing.assert_array_equal(loc.relevance({"semantic": semantic}, "alarm clock"),
                                  [[0, 0], [1, 0]])
    with pytest.raises(ValueError, match="unknown category 'Mug'"):
        loc.relevance({"semantic": semantic}, "Mug")


# ------------------------------------------------------------------------------ import hygiene
def _imports(path: Path) -> list[str]:
    """Every module a file imports, wherever the import statement is (functions, TYPE_CHECKING)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names += [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
    return names


AGENT_SIDE = sorted([*(PACKAGE / "agents").rglob("*.py"), *(PACKAGE / "perception").rglob("*.py"),
                     PACKAGE / "interfaces.py"])


@pytest.mark.parametrize("path", AGENT_SIDE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_agents_and_perception_never_import_an_env(path: Path) -> None:
    """An agent sees observations, reset info and `embodied.interfaces`; importing an env would
    load every simulator with it and let agents read state they must be handed instead."""
    bad = [m for m in _imports(path) if m == "embodied.envs" or m.startswith("embodied.envs.")]
    assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_interfaces_import_nothing_of_the_project_or_a_simulator() -> None:
    heavy = ("embodied", "pybullet", "torch", "numpy", "gymnasium")
    assert not [m for m in _imports(PACKAGE / "interfaces.py") if m.split(".")[0] in heavy]


def test_importing_every_agent_and_localizer_loads_no_env() -> None:
    seen = _fresh_python(
        "import json, pkgutil, sys, importlib, embodied.interfaces, embodied.agents\n"
        "import embodied.perception as p, embodied.perception.localization\n"
        "for m in pkgutil.walk_packages(p.__path__, 'embodied.perception.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "                        if m == 'pybullet' or m.startswith('embodied.envs'))))")
    assert seen == []


def test_loading_the_registry_imports_no_torch_and_no_simulator() -> None:
    """`embodied run` loads every built-in registration before it checks a config, so a config
    error (a missing AI2-THOR player, habitat-sim) must not wait for torch: CSR's agent module is
    imported when a CSR agent is built, and the AI2-THOR / Habitat adapters when their env is."""
    seen = _fresh_python(
        "import json, sys, embodied.registry as r\n"
        "errors = r.load_builtin()\n"
        "print(json.dumps({'errors': errors, 'heavy': sorted(m for m in ('torch', 'torchvision', "
        "'open_clip', 'ai2thor', 'habitat_sim') if m in sys.modules), "
        "'csr': 'csr' in r.ids('agent') and 'csr_paper' in r.ids('agent')}))")
    assert seen == {"errors": {}, "heavy": [], "csr": True}
