"""The ground-truth localizer: relevance 1 exactly on the goal category's pixels.

Why it exists: CoW's ablations swap the CLIP localizer for ground truth to separate exploration
errors from recognition errors; with it, the agent's failures are the explorer's alone. It is
privileged (reads the env's semantic segmentation), so its numbers are an upper bound.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from embodied.config import LocalizerConfig
from embodied.envs.pybullet.house import category_names, semantic_id
from embodied.perception.localization.base import Localizer, check_threshold

__all__ = ["GroundTruthConfig", "GroundTruthLocalizer", "goal_semantic_id"]


@dataclass
class GroundTruthConfig(LocalizerConfig):
    """Privileged: reads obs["semantic"]. `threshold` only matters for the 0/1 map's mask (any value in (0, 1])."""

    id: str = "ground_truth"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        check_threshold(self.threshold)


def goal_semantic_id(text: str) -> int:
    """The semantic id of a category given as "AlarmClock", "alarm clock" or "alarmclock".

    Why lenient: agents may pass the goal as a dataset id or as the words they prompt CLIP with;
    both must find the same category. Unknown names raise (a typo must not silently mean "nothing").
    """
    try:
        return semantic_id(text)
    except ValueError:
        pass
    folded = text.replace(" ", "").replace("_", "").lower()
    for name in category_names():
        if name.lower() == folded:
            return semantic_id(name)
    raise ValueError(f"ground_truth localizer: unknown category {text!r}; known: "
                     f"{', '.join(category_names()[1:])}")


class GroundTruthLocalizer(Localizer):
    """1.0 on pixels whose semantic id is the goal's, else 0.0 (so every threshold in (0, 1] agrees)."""

    privileged: ClassVar[bool] = True

    def __init__(self, config: GroundTruthConfig | None = None, device: str = "cpu") -> None:
        super().__init__(config or GroundTruthConfig(), device)
        self._goal: str | None = None
        self._goal_id: int | None = None

    def reset(self, info: dict[str, Any]) -> None:
        """Take the goal's semantic id from the env's privileged info when it gives one.

        Why prefer it: the env knows its own id scheme; mapping names here is the fallback for
        envs (or backends) that do not hand one out.
        """
        privileged = info.get("privileged") or {}
        goal_id = privileged.get("goal_semantic_id")
        self._goal = info.get("goal")
        self._goal_id = int(goal_id) if goal_id is not None else None

    def _semantic_id(self, text: str) -> int:
        if self._goal_id is not None and text == self._goal:
            return self._goal_id
        return goal_semantic_id(text)

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        semantic = obs.get("semantic") if isinstance(obs, dict) else None
        if semantic is None:
            raise ValueError("ground_truth localizer needs obs['semantic']: make the env with "
                             "privileged=True (the runner does so for agents whose localizer is privileged)")
        semantic = np.asarray(semantic)
        if semantic.ndim != 2:
            raise ValueError(f"ground_truth localizer: obs['semantic'] must be (H, W), got {semantic.shape}")
        return (semantic == self._semantic_id(text)).astype(np.float32)
