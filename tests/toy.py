"""A toy env, agent and localizers for testing the experiment framework (config, registry, runner).

ToyWalk is a real `gymnasium.Env`: a 1-D walk to a goal cell, where each move slips (goes the other
way) with a probability drawn from the episode seed. So the metrics are a deterministic function of
(episode, seed) — what the runner's reproducibility tests need — and cheap (microseconds a step).
Fault injection (all keyed by episode id) exercises the runner's error paths:
    fail_on        reset raises RuntimeError on every attempt
    flaky_on       reset raises on the first attempt in a process, then works
    crash_on       the process dies at reset (os._exit, as a segfaulting simulator would)
    crash_once_on  the process dies once per episode (a marker file in `marker_dir` remembers)
    fail_build     the env cannot be constructed at all (an exception)
    crash_build    the process dies while constructing the env

Importing this module registers everything (the runner imports it in spawned workers because
registry.modules_for() names it).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied import registry
from embodied.config import AgentConfig, ConfigError, EnvConfig, LocalizerConfig, split_is_file

ENV_ID = "embodied/ToyWalk-v0"
SPLITS = {"val": 12, "mini": 4}
LEFT, RIGHT, STOP = 0, 1, 2


@dataclass
class ToyWalkConfig(EnvConfig):
    """A 1-D walk to a goal cell (tests only)."""

    id: str = ENV_ID
    split: str = "val"
    max_steps: int = 40
    step_delay: float = 0.0
    mode: Literal["walk", "hop"] = "walk"
    slip_range: tuple[float, float] = (0.0, 0.3)
    fail_on: list[str] = field(default_factory=list)
    flaky_on: list[str] = field(default_factory=list)
    crash_on: list[str] = field(default_factory=list)
    crash_once_on: list[str] = field(default_factory=list)
    marker_dir: str | None = None
    fail_build: bool = False
    crash_build: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ConfigError(f"expected a positive integer, got {self.max_steps}", key="max_steps")


def _split_episodes(split: str, n: int) -> list[dict[str, Any]]:
    return [{"episode_id": f"{split}-{i:03d}", "category": "near" if i % 2 == 0 else "far",
             "goal": 2 + i % 3 + (4 if i % 2 else 0)} for i in range(n)]


def toy_episodes(cfg: ToyWalkConfig) -> list[dict[str, Any]]:
    """Named splits are generated; a .json split is read (errors name env.split)."""
    if split_is_file(cfg.split):
        try:
            data = json.loads(Path(cfg.split).read_text())
            episodes = data["episodes"]
            assert isinstance(episodes, list)
        except FileNotFoundError:
            raise ConfigError(f"env.split: dataset file {cfg.split!r} does not exist") from None
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            raise ConfigError(f"env.split: {cfg.split!r} is not a ToyWalk dataset ({type(exc).__name__}: "
                              f"{exc}); expected {{\"episodes\": [...]}}") from None
        return episodes
    if cfg.split not in SPLITS:
        raise ConfigError(f"env.split: unknown split {cfg.split!r}; expected one of {sorted(SPLITS)} "
                          "or a dataset .json file")
    return _split_episodes(cfg.split, SPLITS[cfg.split])


def toy_generate(cfg: ToyWalkConfig, out: str) -> int:
    episodes = toy_episodes(cfg)[: cfg.episodes]
    Path(out).write_text(json.dumps({"episodes": episodes}))
    return len(episodes)


class ToyWalkEnv(gym.Env):
    """A 1-D walk: move left/right to the goal cell and Stop there (tests only)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    _flaky_seen: set[str] = set()  # per process: flaky_on fails the first attempt only

    def __init__(self, config: ToyWalkConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False) -> None:
        self.cfg = config or ToyWalkConfig()
        if self.cfg.fail_build:
            raise RuntimeError("injected: the simulator does not start")
        if self.cfg.crash_build:
            os._exit(4)
        self.render_mode = render_mode
        self.privileged = privileged
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Dict({
            "position": spaces.Box(-1000, 1000, (1,), np.float32),
            "goal": spaces.Box(-1000, 1000, (1,), np.float32),
        })
        self.pos = self.goal = self.steps = self.path = 0
        self.slip = 0.0
        self.spec_ep: dict[str, Any] = {}

    def _inject_faults(self, ep_id: str) -> None:
        cfg = self.cfg
        if ep_id in cfg.crash_on:
            os._exit(3)
        if ep_id in cfg.crash_once_on:
            marker = Path(cfg.marker_dir or ".") / f"crashed-{ep_id}"
            if not marker.exists():
                marker.write_text("1")
                os._exit(3)
        if ep_id in cfg.fail_on:
            raise RuntimeError(f"injected failure in {ep_id}")
        if ep_id in cfg.flaky_on and ep_id not in self._flaky_seen:
            self._flaky_seen.add(ep_id)
            raise RuntimeError(f"injected flaky failure in {ep_id}")

    def _obs(self) -> dict[str, np.ndarray]:
        return {"position": np.array([self.pos], np.float32), "goal": np.array([self.goal], np.float32)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.spec_ep = (options or {}).get("episode") or _split_episodes("val", 1)[0]
        self._inject_faults(self.spec_ep["episode_id"])
        self.goal = int(self.spec_ep["goal"])
        self.pos = self.steps = self.path = 0
        self.slip = float(self.np_random.uniform(*self.cfg.slip_range))
        info = {"episode_id": self.spec_ep["episode_id"], "goal": self.goal}
        if self.privileged:
            info["privileged"] = {"goal": self.goal}
        return self._obs(), info

    def step(self, action: int):
        if self.cfg.step_delay:
            time.sleep(self.cfg.step_delay)
        self.steps += 1
        terminated = int(action) == STOP
        if not terminated:
            move = 1 if int(action) == RIGHT else -1
            if self.np_random.random() < self.slip:
                move = -move
            self.pos += move * (2 if self.cfg.mode == "hop" else 1)
            self.path += 1
        truncated = not terminated and self.steps >= self.cfg.max_steps
        info: dict[str, Any] = {}
        if terminated or truncated:
            shortest = abs(self.goal)
            dist = abs(self.goal - self.pos)
            success = terminated and dist == 0
            ratio = shortest / max(shortest, self.path, 1e-9)
            info["metrics"] = {"success": bool(success), "spl": float(success) * ratio,
                               "soft_spl": max(0.0, 1 - dist / shortest) * ratio,
                               "distance_to_goal": float(dist), "path_length": float(self.path),
                               "shortest_path_length": float(shortest)}
            info["record"] = {"category": self.spec_ep.get("category"), "renderer": "toy"}
        return self._obs(), 0.0, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        img = np.zeros((8, 32, 3), np.uint8)
        img[:, min(max(self.pos + 8, 0), 31)] = 255
        return img


# ------------------------------------------------------------------------------ localizers
@dataclass
class ToyExactConfig(LocalizerConfig):
    """Knows the goal exactly."""

    id: str = "toy_exact"


@dataclass
class ToyNoisyConfig(LocalizerConfig):
    """Misplaces the goal by `offset` cells."""

    id: str = "toy_noisy"
    offset: int = 1
    threshold: float = 0.5


class ToyLocalizer:
    """Where the goal is, as the agent believes (tests nested config dispatch)."""

    def __init__(self, cfg: LocalizerConfig) -> None:
        self.offset = getattr(cfg, "offset", 0)

    def locate(self, goal: int) -> int:
        return goal + self.offset


# ------------------------------------------------------------------------------ agents
@dataclass
class ToyAgentConfig(AgentConfig):
    """A greedy walker with epsilon-random moves."""

    id: str = "toy_greedy"
    epsilon: float = 0.1
    localizer: LocalizerConfig = field(default_factory=ToyExactConfig)
    fallback: LocalizerConfig | None = None  # an optional nested section (unused by the agent)


class ToyAgent:
    """Walks toward where its localizer puts the goal; random moves with probability epsilon."""

    privileged = False

    def __init__(self, config: ToyAgentConfig, device: str = "cpu") -> None:
        self.config, self.device = config, device
        self.localizer = ToyLocalizer(config.localizer)
        self.rng = np.random.default_rng(0)
        self.target = 0
        self.pos = 0

    def reset(self, info: dict[str, Any]) -> None:
        self.rng = np.random.default_rng(info["seed"])
        self.target = self.localizer.locate(int(info["goal"]))

    def act(self, obs: dict[str, Any]) -> int:
        self.pos = int(obs["position"][0])
        if self.rng.random() < self.config.epsilon:
            return int(self.rng.integers(2))
        if self.pos == self.target:
            return STOP
        return RIGHT if self.target > self.pos else LEFT

    def debug_frame(self) -> np.ndarray:
        return np.full((4, 4, 3), 128, np.uint8)


@dataclass
class ToyOracleConfig(AgentConfig):
    """Reads the goal from privileged info."""

    id: str = "toy_oracle"


class ToyOracle(ToyAgent):
    """Needs the env's privileged info: the runner must build the env with privileged=True."""

    privileged = True

    def __init__(self, config: ToyOracleConfig, device: str = "cpu") -> None:
        super().__init__(ToyAgentConfig(epsilon=0.0), device)

    def reset(self, info: dict[str, Any]) -> None:
        self.rng = np.random.default_rng(info["seed"])
        self.target = int(info["privileged"]["goal"])


registry.register_env(ENV_ID, ToyWalkEnv, ToyWalkConfig, toy_episodes, generate_fn=toy_generate)
registry.register_agent("toy_greedy", ToyAgent, ToyAgentConfig)
registry.register_agent("toy_oracle", ToyOracle, ToyOracleConfig)
registry.register_localizer("toy_exact", ToyLocalizer, ToyExactConfig)
registry.register_localizer("toy_noisy", ToyLocalizer, ToyNoisyConfig)
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="tests.toy:ToyWalkEnv")
