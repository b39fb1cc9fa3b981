"""Object localizers for CoW: where in the frame is the goal? Importing this package registers them.

| id            | how                                                              | needs            |
|---------------|------------------------------------------------------------------|------------------|
| ground_truth  | the env's semantic segmentation of the goal category (privileged)| privileged env   |
| clip_grad     | gradient-weighted attention relevance of CLIP's ViT (Chefer 2021)| open_clip        |
| clip_patch    | k x k tiles of the frame, each scored by CLIP                    | open_clip        |
| clip_ref      | "a {object} in the {region} of the image" prompts, softmax       | open_clip        |
| owlvit        | OWL-ViT open-vocabulary boxes above a threshold                  | `owlvit` extra   |

Every localizer follows `base.Localizer`: `reset(info)`, `relevance(obs, text)` -> (H, W) float32
in [0, 1], `detect(obs, text)` -> (relevance, mask). Build one from its config with
`make_localizer(cfg, device)`. Importing this package imports neither torch nor transformers;
they load when a model is built.
"""
from __future__ import annotations

from typing import Any

from embodied import registry
from embodied.perception.localization.base import ClipConfig, Localizer, category_words
from embodied.perception.localization.clip_grad import ClipGradConfig, ClipGradLocalizer
from embodied.perception.localization.clip_patch import ClipPatchConfig, ClipPatchLocalizer
from embodied.perception.localization.clip_ref import ClipRefConfig, ClipRefLocalizer
from embodied.perception.localization.ground_truth import GroundTruthConfig, GroundTruthLocalizer
from embodied.perception.localization.owlvit import OwlVitConfig, OwlVitLocalizer

__all__ = [
    "Localizer", "ClipConfig", "category_words", "make_localizer", "localizer_class",
    "GroundTruthConfig", "GroundTruthLocalizer", "ClipGradConfig", "ClipGradLocalizer",
    "ClipPatchConfig", "ClipPatchLocalizer", "ClipRefConfig", "ClipRefLocalizer",
    "OwlVitConfig", "OwlVitLocalizer",
]

registry.register_localizer("ground_truth", GroundTruthLocalizer, GroundTruthConfig)
registry.register_localizer("clip_grad", ClipGradLocalizer, ClipGradConfig)
registry.register_localizer("clip_patch", ClipPatchLocalizer, ClipPatchConfig)
registry.register_localizer("clip_ref", ClipRefLocalizer, ClipRefConfig)
registry.register_localizer("owlvit", OwlVitLocalizer, OwlVitConfig)


def localizer_class(config: Any) -> type:
    """The class registered for `config.id` (an agent reads its `privileged` flag before the env is made)."""
    return registry.get("localizer", config.id).cls


def make_localizer(config: Any, device: str = "cpu") -> Localizer:
    """Build the localizer registered under `config.id` on `device` ("cpu", "cuda:0")."""
    return localizer_class(config)(config, device=device)
