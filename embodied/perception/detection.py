"""Object detectors for the scene-graph agents: a frame in, boxes and categories out.

Why an interface: CSR's results are reported with ground-truth boxes (the release's setting, and
the "ground-truth detection" line of this project's tables), but the method only needs a box and a
category per object -- a learned detector must be able to take the ground truth's place without the
agent changing. A detector is any class with

* ``privileged`` (class attribute): whether it needs the env's privileged observations;
* ``detect(obs) -> (boxes, categories)``: (N, 4) int half-open pixel boxes (x0, y0, x1, y1) and N
  category names, from one observation dict (``rgb``, ``depth``, ... as the env hands it out).

``make_detector("ground_truth")`` gives the built-in one; any other value is an import path
``package.module:ClassName`` whose class is built with no arguments.
"""
from __future__ import annotations

import importlib
from typing import Any, ClassVar, Mapping, Protocol

import numpy as np

__all__ = ["Detector", "GroundTruthDetector", "make_detector", "detector_class"]


class Detector(Protocol):
    privileged: ClassVar[bool]

    def detect(self, obs: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]: ...


class GroundTruthDetector:
    """The env's privileged ``boxes`` rows (instance id, category id, x0, y0, x1, y1, inclusive),
    as a detector would return them: the instance ids are dropped (an agent must tell objects apart
    itself), boxes made half-open, category ids named with the reset info's ``categories``."""

    privileged: ClassVar[bool] = True

    def __init__(self, categories: Mapping[str, int] | None = None) -> None:
        self.names = {int(v): str(k) for k, v in (categories or {}).items()}

    def reset(self, info: Mapping[str, Any]) -> None:
        self.names = {int(v): str(k) for k, v in info.get("categories", {}).items()}

    def detect(self, obs: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
        if "boxes" not in obs:
            raise KeyError("the ground-truth detector needs the privileged 'boxes' observation "
                           "(an env made with privileged=True)")
        rows = np.asarray(obs["boxes"])
        rows = rows[rows[:, 0] >= 0]
        if not len(rows):
            return np.zeros((0, 4), dtype=np.int64), []
        boxes = np.stack([rows[:, 2], rows[:, 3], rows[:, 4] + 1, rows[:, 5] + 1], axis=1).astype(np.int64)
        return boxes, [self.names.get(int(c), str(int(c))) for c in rows[:, 1]]


def detector_class(name: str) -> type:
    """The class a detector name stands for (``ground_truth`` or ``module:Class``)."""
    if name == "ground_truth":
        return GroundTruthDetector
    module, sep, cls = name.partition(":")
    if not sep or not module or not cls:
        raise ValueError(f"detector {name!r}: expected ground_truth or an import path module:Class")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"detector {name!r}: cannot import it ({exc})") from None


def make_detector(name: str) -> Any:
    """A detector instance (see the module docstring)."""
    return detector_class(name)()
