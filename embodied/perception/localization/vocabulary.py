"""Zero-shot classification against a vocabulary: "is this the goal, or one of these other things?"

Why: a CLIP relevance map always has a peak and a frame-prompt cosine has no absolute scale, so
neither says whether the goal is in view at all; an agent that sees ~80 frames an episode then
chases a false positive in most episodes. CLIP's own answer is zero-shot classification: the
softmax over (goal, alternatives) of logit_scale x cosine is the probability that an image shows
the goal *rather than* anything else listed, comparable across frames and models. The localizers
use it on tiles (`clip_patch` with `score: vocabulary`) and on crops around relevance peaks
(`clip_grad` with `verify: true`).

`DEFAULT_VOCABULARY` is the ObjectNav goal categories plus the furniture they stand on and room
surfaces; on a robot, list what the scene may hold (the goal joins the list when missing, and an
entry that names the goal is not counted twice).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from embodied.perception.localization.base import category_words

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_VOCABULARY", "Vocabulary"]

#: the 12 RoboTHOR/ObjectNav goal categories, furniture they stand on, and room surfaces
DEFAULT_VOCABULARY: tuple[str, ...] = (
    "AlarmClock", "Apple", "BaseballBat", "BasketBall", "Bowl", "GarbageCan", "HousePlant", "Laptop",
    "Mug", "SprayBottle", "Television", "Vase",
    "table", "chair", "sofa", "bed", "shelf", "counter", "desk", "wall", "floor",
)


class Vocabulary:
    """The goal's probability against the other entries, for image embeddings of one CLIP model.

    ``clip`` is a ``ClipModel`` (``text_embedding``, ``logit_scale``); ``words`` maps a goal text
    or entry to the words put into ``templates`` (the localizer's, so a paper preset's class
    names apply here too). Alternatives' embeddings are cached per goal.
    """

    def __init__(self, clip: Any, entries: Sequence[str], templates: Sequence[str],
                 words: Any = category_words) -> None:
        self.clip = clip
        self.entries = [str(e) for e in entries if str(e).strip()]
        self.templates = list(templates)
        self.words = words
        self._cache: dict[str, Any] = {}

    def alternatives(self, goal: str) -> "torch.Tensor | None":
        """(C, D) unit-norm prompt-ensemble embeddings of every entry that is not the goal."""
        import torch

        key = self.words(goal).lower()
        if key not in self._cache:
            names = list(dict.fromkeys(n for n in (self.words(e) for e in self.entries) if n.lower() != key))
            self._cache[key] = (torch.stack([self.clip.text_embedding([t.format(n) for t in self.templates])
                                             for n in names]) if names else None)
        return self._cache[key]

    def goal_probability(self, images: "torch.Tensor", goal_embedding: "torch.Tensor",
                         goal: str) -> "torch.Tensor":
        """(N,) softmax probability of the goal per unit-norm image embedding (N, D); all ones when
        the vocabulary holds nothing but the goal."""
        import torch

        others = self.alternatives(goal)
        cosine = images @ goal_embedding
        if others is None:
            return torch.ones_like(cosine)
        logits = self.clip.logit_scale * torch.cat([cosine[:, None], images @ others.t()], dim=1)
        return torch.softmax(logits, dim=1)[:, 0]
