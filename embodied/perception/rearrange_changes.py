"""What changed between the walkthrough and the unshuffle phase: two scene graphs in, changes out.

Two rules, side by side (``embodied.agents.csr`` uses them as ``csr`` and ``csr_paper``):

``paper`` -- the release's (allenai/CSR ``src/simulation/module_planner.py``: ``_object_match_pred``,
``_infer_moved``; thresholds from ``configs_rearrangement/rearrange_test.json``): nodes of the two
graphs are matched by Hungarian matching on object-model similarity, pairs accepted above 0.4;
a matched pair is "moved" when the scene-model features of the two nodes (the diagonal of its
relationship bank) have cosine similarity below 0.8. Only pickupable objects are moved; openness
is never looked at, and nodes without a match are ignored.

``csr`` -- this project's, which keeps the release's features and matching but decides with what
the graphs also know:

* matching only pairs nodes of one category (the detector's label), and favours nodes at the
  same place (``match_nodes``' position bonus: most objects did not move);
* **3-D positions**: a pickupable whose two positions (depth + pose, averaged over the views) are
  more than ``move_distance`` apart moved; closer than ``keep_distance`` it did not;
* **relations** in between: the edges from the object to the matched objects around it are
  compared across the phases (cosine similarity of the scene-model edge features of the same
  ordered pair); an object whose relations changed (mean similarity below ``relation_threshold``)
  moved. Without shared edges, the node-similarity rule of the release decides;
* nodes of one category seen in only one phase are paired with each other (Hungarian on
  object-model similarity, no threshold): the object was moved out of where the walkthrough saw
  it into a place only the unshuffle phase saw;
* an openable part whose position moved more than ``open_distance`` (a door's visible centre
  swings with it) changed openness -- a change the release never fixes. The threshold is low on
  purpose: under the 2021/2022 rule ``open_by_type`` only acts on a part that is off its goal,
  so a false alarm costs a few steps and nothing else.

Positions must be in one frame in both phases (the env's GPS+compass is relative to the start pose,
and both phases start there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from embodied.perception.scene_graph import OBJECT_MATCH_THRESHOLD, SceneGraph, hungarian_match

__all__ = ["Change", "ChangeRules", "RULES", "match_nodes", "detect_changes"]

RULES = ("csr", "paper")
MOVED_SIMILARITY = 0.8          # release: cos_sim_moved_threshold (rearrange_test.json)


@dataclass
class Change:
    """One thing to fix: the node in the walkthrough graph (where it belongs) and in the unshuffle
    graph (where it is now); ``kind`` "move" (pick up and put back) or "open" (openness)."""

    walk_node: int | None
    unshuffle_node: int | None
    kind: str
    category: str
    score: float
    walk_position: tuple[float, float, float] | None = None
    unshuffle_position: tuple[float, float, float] | None = None


@dataclass
class ChangeRules:
    """Thresholds of the two rules (module docstring); distances in metres."""

    rule: str = "csr"
    object_threshold: float = OBJECT_MATCH_THRESHOLD
    moved_similarity: float = MOVED_SIMILARITY
    move_distance: float = 0.30
    keep_distance: float = 0.12
    relation_threshold: float = 0.85
    open_distance: float = 0.08
    pair_unmatched: bool = True
    #: similarity added to node pairs at the same place (``match_nodes``)
    position_bonus: float = 0.5

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule: got {self.rule!r}, expected one of {', '.join(RULES)}")
        if not 0.0 <= self.keep_distance <= self.move_distance:
            raise ValueError(f"keep_distance {self.keep_distance} and move_distance {self.move_distance}: "
                             "expected 0 <= keep_distance <= move_distance (m)")


def _position(graph: SceneGraph, node: int) -> np.ndarray | None:
    return graph.nodes[node].position()


def _as_tuple(p: np.ndarray | None) -> tuple[float, float, float] | None:
    return None if p is None else (float(p[0]), float(p[1]), float(p[2]))


def match_nodes(walk: SceneGraph, unshuffle: SceneGraph, threshold: float,
                same_category: bool, position_bonus: float = 0.0,
                position_sigma: float = 0.3) -> list[tuple[int, int, float]]:
    """(walk node, unshuffle node, object similarity) of the accepted Hungarian pairs.

    ``position_bonus`` > 0 adds ``bonus * exp(-d^2 / 2 sigma^2)`` to the similarity of nodes ``d``
    metres apart: most objects did not move, and two look-alikes of one category are told apart
    by where they are. A moved object gets no bonus and is matched by its features.
    """
    if len(walk) == 0 or len(unshuffle) == 0:
        return []
    sim = (walk.object_features @ unshuffle.object_features.T).numpy().astype(np.float64)
    score = sim.copy()
    if position_bonus > 0.0:
        pw, pu = walk.positions(), unshuffle.positions()
        d = np.linalg.norm(pw[:, None, :] - pu[None, :, :], axis=2)
        score += np.where(np.isfinite(d), position_bonus * np.exp(-0.5 * (d / position_sigma) ** 2), 0.0)
    if same_category:
        wc, uc = walk.categories(), unshuffle.categories()
        for i, a in enumerate(wc):
            for j, b in enumerate(uc):
                if a != b:
                    score[i, j] = -1e9
    return [(i, j, float(sim[i, j])) for i, j in hungarian_match(score, threshold)]


def _relation_similarity(walk: SceneGraph, unshuffle: SceneGraph, w: int, u: int,
                         pairs: dict[int, int]) -> float | None:
    """Mean cosine similarity of the object's edges to other matched objects, both phases."""
    sims = []
    for w2, u2 in pairs.items():
        if w2 == w:
            continue
        for a, b, c, d in ((w, w2, u, u2), (w2, w, u2, u)):
            ew, eu = walk.edges.get((a, b)), unshuffle.edges.get((c, d))
            if ew is not None and eu is not None:
                sims.append(float(torch.dot(ew, eu)))
    return float(np.mean(sims)) if sims else None


def detect_changes(walk: SceneGraph, unshuffle: SceneGraph, rule: str | ChangeRules = "csr",
                   pickupable: Sequence[str] | None = None,
                   openable: Sequence[str] | None = None) -> list[Change]:
    """The changes the rule finds (module docstring), most certain first.

    ``pickupable``/``openable``: category names of each kind (default: the rearrangement task's);
    nodes of other categories are never changed.
    """
    rules = rule if isinstance(rule, ChangeRules) else ChangeRules(rule=rule)
    if pickupable is None or openable is None:
        from embodied.interfaces import REARRANGE_OPENABLE_TYPES, REARRANGE_PICKUPABLE_TYPES
        pickupable = REARRANGE_PICKUPABLE_TYPES if pickupable is None else pickupable
        openable = REARRANGE_OPENABLE_TYPES if openable is None else openable
    pick, opens = set(pickupable), set(openable)
    wc, uc = walk.categories(), unshuffle.categories()
    paper = rules.rule == "paper"
    matches = match_nodes(walk, unshuffle, rules.object_threshold, same_category=not paper,
                          position_bonus=0.0 if paper else rules.position_bonus)
    changes: list[Change] = []
    if paper:
        for w, u, _ in matches:
            cat = wc[w] or uc[u] or ""
            if cat not in pick:
                continue
            node_sim = float(torch.dot(walk.nodes[w].feature, unshuffle.nodes[u].feature))
            if node_sim < rules.moved_similarity:
                changes.append(Change(w, u, "move", cat, 1.0 - node_sim,
                                      _as_tuple(_position(walk, w)), _as_tuple(_position(unshuffle, u))))
        return sorted(changes, key=lambda c: -c.score)

    pairs = {w: u for w, u, _ in matches}
    for w, u, _ in matches:
        cat = wc[w] or ""
        pw, pu = _position(walk, w), _position(unshuffle, u)
        dist = float(np.linalg.norm(pw - pu)) if pw is not None and pu is not None else None
        if cat in opens:
            if dist is not None and dist > rules.open_distance:
                changes.append(Change(w, u, "open", cat, dist, _as_tuple(pw), _as_tuple(pu)))
            continue
        if cat not in pick:
            continue
        node_sim = float(torch.dot(walk.nodes[w].feature, unshuffle.nodes[u].feature))
        if dist is not None and dist > rules.move_distance:
            moved, score = True, 1.0 + dist
        elif dist is not None and dist < rules.keep_distance:
            moved, score = False, 0.0
        else:
            rel = _relation_similarity(walk, unshuffle, w, u, pairs)
            if rel is not None:
                moved, score = rel < rules.relation_threshold, 1.0 - rel
            else:
                moved, score = node_sim < rules.moved_similarity, 1.0 - node_sim
        if moved:
            changes.append(Change(w, u, "move", cat, score, _as_tuple(pw), _as_tuple(pu)))
    if rules.pair_unmatched:
        changes.extend(_pair_unmatched(walk, unshuffle, pairs, wc, uc, pick))
    return sorted(changes, key=lambda c: -c.score)


def _pair_unmatched(walk: SceneGraph, unshuffle: SceneGraph, pairs: dict[int, int],
                    wc: list[str | None], uc: list[str | None], pick: set[str]) -> list[Change]:
    """Same-category pickupables seen in one phase only, paired across the phases."""
    used_u = set(pairs.values())
    out: list[Change] = []
    for cat in sorted({c for c in wc if c in pick}):
        ws = [i for i, c in enumerate(wc) if c == cat and i not in pairs]
        us = [j for j, c in enumerate(uc) if c == cat and j not in used_u]
        if not ws or not us:
            continue
        sim = (walk.object_features[ws] @ unshuffle.object_features[us].T).numpy()
        for a, b in hungarian_match(sim, -np.inf):
            w, u = ws[a], us[b]
            pw, pu = _position(walk, w), _position(unshuffle, u)
            if pw is not None and pu is not None and float(np.linalg.norm(pw - pu)) < 0.12:
                continue     # the same spot: one object the matching split, not a move
            out.append(Change(w, u, "move", cat, 0.5 + 0.5 * float(sim[a, b]), _as_tuple(pw), _as_tuple(pu)))
    return out
