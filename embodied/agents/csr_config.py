"""The ``csr`` / ``csr_paper`` agents' settings, apart from the agent (`embodied.agents.csr`).

Why a module of its own: validating a config, listing the agents and starting a worker for any
other agent must not import torch and torchvision (about 2 s), which the CSR agent needs; the
agent's module is imported when a CSR agent is built (`LazyCSRAgent`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embodied.config import AgentConfig, ConfigError
from embodied.perception.detection import detector_class
from embodied.perception.mapping import MapConfig

__all__ = ["CSRAgentConfig", "CSRPaperConfig", "DEFAULT_MODELS", "LazyCSRAgent"]

DEFAULT_MODELS = Path(__file__).resolve().parent.parent / "models" / "csr"
LOOK = math.radians(30.0)
PITCHES = (-2, -1, 0, 1)                 # the env's camera pitch range in 30 deg steps
MOVES = ("move_ahead", "move_left", "move_back", "move_right")


@dataclass
class CSRAgentConfig(AgentConfig):
    """Settings of the ``csr`` agent (module docstring); distances in metres, budgets in steps."""

    id: str = "csr"
    scene_model: str = str(DEFAULT_MODELS / "csr_scene.pt")
    object_model: str = str(DEFAULT_MODELS / "csr_object.pt")
    rule: str = "csr"
    #: boxes under this share of the image are not embedded (the release: 0.008)
    min_box_frac: float = 0.002
    #: within-phase matching gated by category and 3-D distance (off: the release's matching)
    gate: bool = True
    gate_distance: float = 1.0
    max_edges: int = 8
    #: edges are embedded on every edge_every-th frame with detections (encoder time)
    edge_every: int = 2
    #: a node seen this often is not embedded again (csr_tracking; None: embed every detection)
    max_views: int | None = 4
    explore_pitch: int = -1
    walkthrough_budget: int = 200
    revisit_budget: int = 60
    #: distance of a spot from the thing it looks at (the env's reach is 1.5 m to the box)
    reach: float = 1.25
    min_reach: float = 0.3
    max_tries: int = 3
    fix_openness: bool = True
    map: MapConfig = field(default_factory=MapConfig)
    threads: int | None = None
    #: where boxes come from: ground_truth (privileged) or module:Class (embodied.perception.detection)
    detector: str = "ground_truth"

    def __post_init__(self) -> None:
        if self.rule not in ("csr", "paper"):
            raise ConfigError(f"got {self.rule!r}, expected csr or paper (the release's rules)", key="rule")
        if not 0.0 <= self.min_box_frac < 1.0:
            raise ConfigError(f"got {self.min_box_frac}, expected a share of the image in [0, 1)",
                              key="min_box_frac")
        if not 0.0 < self.min_reach < self.reach <= 1.5:
            raise ConfigError(f"got min_reach {self.min_reach}, reach {self.reach}: expected "
                              "0 < min_reach < reach <= 1.5 (m, the env's interaction distance)", key="reach")
        if self.explore_pitch not in PITCHES:
            raise ConfigError(f"got {self.explore_pitch}, expected one of {PITCHES} (30 deg steps)",
                              key="explore_pitch")
        for name in ("walkthrough_budget", "max_tries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected an integer >= 1", key=name)
        try:
            detector_class(self.detector)
        except ValueError as exc:
            raise ConfigError(str(exc), key="detector") from None
        for name in ("scene_model", "object_model"):
            if not Path(getattr(self, name)).is_file():
                raise ConfigError(f"no CSR checkpoint at {getattr(self, name)!r}; expected the file "
                                  "`embodied train csr experiments/csr_train.yaml` writes", key=name)


@dataclass
class CSRPaperConfig(CSRAgentConfig):
    """The release's decision rules (see the module docstring) on the same exploration."""

    id: str = "csr_paper"
    rule: str = "paper"
    min_box_frac: float = 0.008
    gate: bool = False
    max_views: int | None = None
    fix_openness: bool = False


class LazyCSRAgent:
    """CSR for two-phase room rearrangement: scene graphs of both phases, what changed, put it back."""

    privileged = True

    @classmethod
    def needs_privileged(cls, config: CSRAgentConfig) -> bool:
        return bool(getattr(detector_class(config.detector), "privileged", False))

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from embodied.agents.csr import CSRAgent

        return CSRAgent(*args, **kwargs)


LazyCSRAgent.__module__, LazyCSRAgent.__qualname__ = "embodied.agents.csr", "CSRAgent"   # what `embodied list` names
