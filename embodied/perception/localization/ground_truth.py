"""The ground-truth localizer: relevance 1 exactly on the goal category's pixels.

Why it exists: CoW's ablations swap the CLIP localizer for ground truth to separate exploration
errors from recognition errors; with it, the agent's failures are the explorer's alone. It is
privileged (reads the env's semantic segmentation), so its numbers are an upper bound.

It knows no category ids of its own: the env says in `reset`'s info which semantic id each
category name has (`info["categories"]`) and which one the goal is
(`info["privileged"]["goal_semantic_id"]`), so it works on any backend's id scheme without
importing an env.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from embodied.config import LocalizerConfig
from embodied.perception.localization.base import Localizer, check_threshold

__all__ = ["GroundTruthConfig", "GroundTruthLocalizer", "goal_semantic_id"]


@dataclass
class GroundTruthConfig(LocalizerConfig):
    """Privileged: reads obs["semantic"]. `threshold` only matters for the 0/1 map's mask (any value in (0, 1])."""

    id: str = "ground_truth"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        check_threshold(self.threshold)


def goal_semantic_id(text: str, categories: Mapping[str, int]) -> int:
    """The semantic id `categories` (the env's name -> id map) gives a category written as
    "AlarmClock", "alarm clock" or "alarmclock".

    Why lenient: agents may pass the goal as a dataset id or as the words they prompt CLIP with;
    both must find the same category. Unknown names raise (a typo must not silently mean "nothing").
    """
    if text in categories:
        return int(categories[text])
    folded = text.replace(" ", "").replace("_", "").lower()
    for name, ident in categories.items():
        if name.replace(" ", "").replace("_", "").lower() == folded:
            return int(ident)
    known = ", ".join(categories) or "none (the env's reset info has no \"categories\")"
    raise ValueError(f"ground_truth localizer: unknown category {text!r}; known: {known}")


class GroundTruthLocalizer(Localizer):
    """1.0 on pixels whose semantic id is the goal's, else 0.0 (so every threshold in (0, 1] agrees)."""

    privileged: ClassVar[bool] = True

    def __init__(self, config: GroundTruthConfig | None = None, device: str = "cpu") -> None:
        super().__init__(config or GroundTruthConfig(), device)
        self._goal: str | None = None
        self._goal_id: int | None = None
        self._categories: dict[str, int] = {}

    def reset(self, info: dict[str, Any]) -> None:
        """Take the goal's semantic id and the category -> id map from the env's reset info.

        Why from the env: only the env knows its backend's id scheme; a localizer that restated
        it would import the env (and its simulator) and break on any other backend.
        """
        privileged = info.get("privileged") or {}
        goal_id = privileged.get("goal_semantic_id")
        self._goal = info.get("goal")
        self._goal_id = int(goal_id) if goal_id is not None else None
        self._categories = {str(k): int(v) for k, v in (info.get("categories") or {}).items()}

    def _semantic_id(self, text: str) -> int:
        if self._goal_id is not None and text == self._goal:
            return self._goal_id
        return goal_semantic_id(text, self._categories)

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        semantic = obs.get("semantic") if isinstance(obs, dict) else None
        if semantic is None:
            raise ValueError("ground_truth localizer needs obs['semantic']: make the env with "
                             "privileged=True (the runner does so for agents whose localizer is privileged)")
        semantic = np.asarray(semantic)
        if semantic.ndim != 2:
            raise ValueError(f"ground_truth localizer: obs['semantic'] must be (H, W), got {semantic.shape}")
        return (semantic == self._semantic_id(text)).astype(np.float32)
