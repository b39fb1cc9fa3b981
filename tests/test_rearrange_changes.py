"""What changed between the two rearrangement phases (``embodied.perception.rearrange_changes``),
on hand-built scene graphs whose features are hand-chosen unit vectors in an 8-d space, so every
cosine similarity, distance and score below is known exactly (computed by hand in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from embodied.interfaces import REARRANGE_OPENABLE_TYPES, REARRANGE_PICKUPABLE_TYPES
from embodied.perception.rearrange_changes import Change, ChangeRules, detect_changes, match_nodes
from embodied.perception.scene_graph import SceneGraph

PICK = REARRANGE_PICKUPABLE_TYPES
OPEN = REARRANGE_OPENABLE_TYPES
DIM = 8


def e(k: int) -> list[float]:
    """Unit vector along axis k of the 8-d feature space."""
    v = [0.0] * DIM
    v[k] = 1.0
    return v


def tilt(k: int, s: float, other: int = 7) -> list[float]:
    """Unit vector with cosine similarity exactly ``s`` to ``e(k)``: s e_k + sqrt(1 - s^2) e_other."""
    v = [0.0] * DIM
    v[k] = float(s)
    v[other] = math.sqrt(1.0 - float(s) ** 2)
    return v


def graph(nodes: list[dict], edges: dict[tuple[int, int], list[float]] | None = None) -> SceneGraph:
    """A graph whose node k is ``nodes[k]``: keys ``scene`` and ``obj`` (features), ``cat`` and
    ``pos`` (one 3-D position, or a list of them: one view each), and edges (a, b) -> feature.

    All nodes come from one ``update`` on an empty graph (so detection k becomes node k, and the
    edges of that frame become the graph's edges); positions are given with ``add_view``."""
    g = SceneGraph()
    scene = torch.tensor([n["scene"] for n in nodes], dtype=torch.float32)
    obj = torch.tensor([n.get("obj", n["scene"]) for n in nodes], dtype=torch.float32)
    boxes = np.tile([0, 0, 10, 10], (len(nodes), 1))
    pairs = list(edges or {})
    feats = torch.tensor([edges[p] for p in pairs], dtype=torch.float32) if pairs else None
    assign = g.update(scene, boxes, obj, pairs, feats, categories=[n["cat"] for n in nodes])
    assert assign == list(range(len(nodes)))
    for k, n in enumerate(nodes):
        pos = n.get("pos")
        if pos is None:
            continue
        for p in ([pos] if np.isscalar(pos[0]) else pos):
            g.add_view(k, (0, 0, 10, 10), p, None, n["cat"])
    return g


def only(changes: list[Change]) -> Change:
    assert len(changes) == 1, changes
    return changes[0]


# ================================================================================== paper rule
def test_paper_rule_moved_by_scene_similarity_matched_by_object_similarity() -> None:
    # walk / unshuffle nodes (objects all along their own axis, so off-diagonal similarities are 0):
    #   0 Apple  scene sim 0.7 (< 0.8): moved, score 1 - 0.7 = 0.3
    #   1 Bowl   scene sim 0.9: not moved
    #   2 Mug    object sim 0.3 (< 0.4): never matched, so not reported although its scene sim is 0.1
    #   3 Cabinet (openable) scene sim 0.0 and moved 1 m: the paper rule never reports openables
    walk = graph([
        {"scene": e(0), "obj": e(0), "cat": "Apple", "pos": (1.0, 2.0, 0.5)},
        {"scene": e(1), "obj": e(1), "cat": "Bowl", "pos": (0.0, 0.0, 0.5)},
        {"scene": e(2), "obj": e(2), "cat": "Mug", "pos": (3.0, 0.0, 0.5)},
        {"scene": e(3), "obj": e(3), "cat": "Cabinet", "pos": (4.0, 0.0, 0.5)},
    ])
    unshuffle = graph([
        {"scene": tilt(0, 0.7), "obj": e(0), "cat": "Apple", "pos": (1.0, 2.0, 0.5)},
        {"scene": tilt(1, 0.9), "obj": e(1), "cat": "Bowl", "pos": (0.0, 0.0, 0.5)},
        {"scene": tilt(2, 0.1), "obj": tilt(2, 0.3, other=6), "cat": "Mug", "pos": (3.0, 0.0, 0.5)},
        {"scene": e(4), "obj": e(3), "cat": "Cabinet", "pos": (5.0, 0.0, 0.5)},
    ])
    pairs = match_nodes(walk, unshuffle, 0.4, same_category=False)
    assert [(w, u) for w, u, _ in pairs] == [(0, 0), (1, 1), (3, 3)]
    assert [s for _, _, s in pairs] == pytest.approx([1.0, 1.0, 1.0])
    ch = only(detect_changes(walk, unshuffle, "paper", pickupable=PICK, openable=OPEN))
    assert (ch.walk_node, ch.unshuffle_node, ch.kind, ch.category) == (0, 0, "move", "Apple")
    assert ch.score == pytest.approx(0.3, abs=1e-6)
    assert ch.walk_position == pytest.approx((1.0, 2.0, 0.5))
    assert ch.unshuffle_position == pytest.approx((1.0, 2.0, 0.5))   # paper: features only, not places
    # the default category lists (the task's) give the same answer
    assert [(c.walk_node, c.unshuffle_node) for c in detect_changes(walk, unshuffle, "paper")] == [(0, 0)]


def test_paper_rule_ignores_positions_and_unmatched_nodes() -> None:
    # a 2 m displacement with identical scene features is not a move for the release's rule, and
    # a walk-only / unshuffle-only pair of one category (object sim 0 < 0.4) is never paired
    walk = graph([{"scene": e(0), "cat": "Vase", "pos": (0.0, 0.0, 0.5)},
                  {"scene": e(1), "cat": "Mug", "pos": (1.0, 0.0, 0.5)}])
    unshuffle = graph([{"scene": e(0), "cat": "Vase", "pos": (2.0, 0.0, 0.5)},
                       {"scene": e(2), "cat": "Mug", "pos": (3.0, 3.0, 0.5)}])
    assert detect_changes(walk, unshuffle, "paper", pickupable=PICK, openable=OPEN) == []
    # the csr rule on the same graphs: the vase moved 2 m (score 1 + 2), the mugs are paired
    # (score 0.5 + 0.5 * object sim 0 = 0.5)
    got = detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN)
    assert [(c.walk_node, c.unshuffle_node, c.kind, c.category) for c in got] == [
        (0, 0, "move", "Vase"), (1, 1, "move", "Mug")]
    assert [c.score for c in got] == pytest.approx([3.0, 0.5])


def test_paper_rule_boundary_is_strict_less_than() -> None:
    # 0.75 is exact in float32, and e0 . (0.75, x) = 0.75 exactly: at the threshold -> not moved;
    # the next float32 below it -> moved
    rules = ChangeRules(rule="paper", moved_similarity=0.75)
    below = float(np.nextafter(np.float32(0.75), np.float32(0.0)))

    def run(s: float, r: ChangeRules | str) -> list[Change]:
        walk = graph([{"scene": e(0), "obj": e(0), "cat": "Mug"}])
        unshuffle = graph([{"scene": tilt(0, s), "obj": e(0), "cat": "Mug"}])
        return detect_changes(walk, unshuffle, r, pickupable=PICK, openable=OPEN)

    assert run(0.75, rules) == []
    ch = only(run(below, rules))
    assert ch.score == pytest.approx(0.25, abs=1e-6)
    assert ch.walk_position is None and ch.unshuffle_position is None    # never placed
    # the release's 0.8: a float32 similarity of "0.8" is 0.800000012, not below 0.8
    assert run(0.8, "paper") == []
    assert len(run(float(np.nextafter(np.float32(0.8), np.float32(0.0))), "paper")) == 1


def test_paper_rule_object_threshold_is_strict_greater_than() -> None:
    # object similarity exactly 0.5 (exact in float32) against object_threshold 0.5: not matched
    def run(threshold: float) -> list[Change]:
        walk = graph([{"scene": e(0), "obj": e(0), "cat": "Mug"}])
        unshuffle = graph([{"scene": e(5), "obj": tilt(0, 0.5), "cat": "Mug"}])
        return detect_changes(walk, unshuffle, ChangeRules(rule="paper", object_threshold=threshold),
                              pickupable=PICK, openable=OPEN)

    assert run(0.5) == []
    assert only(run(0.49)).score == pytest.approx(1.0, abs=1e-6)      # scene sim 0


# ================================================================================== csr rule
def test_csr_position_bonus_tells_lookalikes_apart() -> None:
    # two mugs with identical features at (0, 0) and (3, 0); in the unshuffle phase the one at
    # (3, 0) is listed first and the other now stands at (0, 2). Scores (object sim 1 + bonus
    # 0.5 exp(-d^2 / (2 0.3^2))): [[1 + ~0, 1 + ~0], [1 + 0.5, 1 + ~0]] -> walk 0 <-> unshuffle 1
    # (d = 2 m: moved, score 1 + 2 = 3), walk 1 <-> unshuffle 0 (d = 0: kept)
    walk = graph([{"scene": e(0), "cat": "Mug", "pos": (0.0, 0.0, 0.9)},
                  {"scene": e(0), "cat": "Mug", "pos": (3.0, 0.0, 0.9)}])
    unshuffle = graph([{"scene": e(0), "cat": "Mug", "pos": (3.0, 0.0, 0.9)},
                       {"scene": e(0), "cat": "Mug", "pos": (0.0, 2.0, 0.9)}])
    pairs = match_nodes(walk, unshuffle, 0.4, same_category=True, position_bonus=0.5)
    assert [(w, u) for w, u, _ in pairs] == [(0, 1), (1, 0)]
    assert [s for _, _, s in pairs] == pytest.approx([1.0, 1.0])     # the reported sim has no bonus
    ch = only(detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN))
    assert (ch.walk_node, ch.unshuffle_node, ch.kind, ch.category) == (0, 1, "move", "Mug")
    assert ch.score == pytest.approx(3.0)
    assert ch.walk_position == pytest.approx((0.0, 0.0, 0.9))
    assert ch.unshuffle_position == pytest.approx((0.0, 2.0, 0.9))


def test_csr_distance_rule_keep_and_move() -> None:
    # Apple displaced 0.05 m (< keep 0.12): kept, although its scene features changed completely;
    # Bowl displaced 1.0 m (> move 0.3): moved (score 1 + 1.0) with identical features. The Bowl's
    # walk position is the mean of two views, (-0.1, 2, 0.5) and (0.1, 2, 0.5) -> (0, 2, 0.5).
    walk = graph([{"scene": e(0), "obj": e(0), "cat": "Apple", "pos": (0.0, 0.0, 0.5)},
                  {"scene": e(1), "obj": e(1), "cat": "Bowl", "pos": [(-0.1, 2.0, 0.5), (0.1, 2.0, 0.5)]}])
    unshuffle = graph([{"scene": e(5), "obj": e(0), "cat": "Apple", "pos": (0.05, 0.0, 0.5)},
                       {"scene": e(1), "obj": e(1), "cat": "Bowl", "pos": (1.0, 2.0, 0.5)}])
    ch = only(detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN))
    assert (ch.walk_node, ch.unshuffle_node, ch.kind, ch.category) == (1, 1, "move", "Bowl")
    assert ch.score == pytest.approx(2.0)
    assert ch.walk_position == pytest.approx((0.0, 2.0, 0.5))
    assert ch.unshuffle_position == pytest.approx((1.0, 2.0, 0.5))


def _band_graphs(edge_ac: list[float], edge_ca: list[float], scene_a: list[float]
                 ) -> tuple[SceneGraph, SceneGraph]:
    """Mug A displaced 0.2 m (between keep 0.12 and move 0.3) next to an unmoved Laptop C (1 m
    away), with edges A->C = e5 and C->A = e6 in the walkthrough and the given ones after."""
    walk = graph([{"scene": e(0), "obj": e(0), "cat": "Mug", "pos": (0.0, 0.0, 0.8)},
                  {"scene": e(1), "obj": e(1), "cat": "Laptop", "pos": (1.0, 0.0, 0.8)}],
                 {(0, 1): e(5), (1, 0): e(6)})
    unshuffle = graph([{"scene": scene_a, "obj": e(0), "cat": "Mug", "pos": (0.2, 0.0, 0.8)},
                       {"scene": e(1), "obj": e(1), "cat": "Laptop", "pos": (1.0, 0.0, 0.8)}],
                      {(0, 1): edge_ac, (1, 0): edge_ca})
    return walk, unshuffle


def test_csr_relations_decide_in_the_distance_band() -> None:
    # relations kept: edge sims 1.0 and 0.8 -> mean 0.9 >= 0.85 -> not moved, although the node
    # similarity (0.1) alone would call it moved
    walk, unshuffle = _band_graphs(e(5), tilt(6, 0.8), tilt(0, 0.1))
    assert detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN) == []
    # relations changed: edge sims 0.8 and 0.8 -> mean 0.8 < 0.85 -> moved (score 1 - 0.8), although
    # the node similarity (1.0) alone would call it kept
    walk, unshuffle = _band_graphs(tilt(5, 0.8), tilt(6, 0.8), e(0))
    ch = only(detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN))
    assert (ch.walk_node, ch.unshuffle_node, ch.kind, ch.category) == (0, 0, "move", "Mug")
    assert ch.score == pytest.approx(0.2, abs=1e-6)
    assert ch.unshuffle_position == pytest.approx((0.2, 0.0, 0.8))
    # one shared edge only (C->A missing after): its similarity alone, 0.8 -> moved
    walk, unshuffle = _band_graphs(tilt(5, 0.8), tilt(6, 0.8), e(0))
    del unshuffle.edges[(1, 0)]
    assert only(detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN)).score == \
        pytest.approx(0.2, abs=1e-6)
    # a stricter relation threshold (0.95) turns the mean 0.9 case into a move
    walk, unshuffle = _band_graphs(e(5), tilt(6, 0.8), e(0))
    ch = only(detect_changes(walk, unshuffle, ChangeRules(relation_threshold=0.95),
                             pickupable=PICK, openable=OPEN))
    assert ch.score == pytest.approx(0.1, abs=1e-6)


def test_csr_band_without_shared_edges_falls_back_to_node_similarity() -> None:
    def run(s: float) -> list[Change]:
        walk = graph([{"scene": e(0), "obj": e(0), "cat": "Mug", "pos": (0.0, 0.0, 0.8)}])
        unshuffle = graph([{"scene": tilt(0, s), "obj": e(0), "cat": "Mug", "pos": (0.0, 0.2, 0.8)}])
        return detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN)

    assert only(run(0.7)).score == pytest.approx(0.3, abs=1e-6)
    assert run(0.9) == []


def test_csr_never_matches_across_categories() -> None:
    # identical features at the same place, but a Mug then a Bowl: no match, and nothing to pair
    walk = graph([{"scene": e(0), "cat": "Mug", "pos": (0.0, 0.0, 0.8)}])
    unshuffle = graph([{"scene": e(0), "cat": "Bowl", "pos": (0.0, 0.0, 0.8)}])
    assert match_nodes(walk, unshuffle, 0.4, same_category=True, position_bonus=0.5) == []
    assert [(w, u) for w, u, _ in match_nodes(walk, unshuffle, 0.4, same_category=False)] == [(0, 0)]
    assert detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN) == []


def test_csr_pairs_walk_only_and_unshuffle_only_nodes_of_one_category() -> None:
    # Mug seen at (0, 0) in the walkthrough and (2, 2) after: object sim 0.3 (< 0.4, bonus ~0 at
    # 2.83 m) -> unmatched; paired as a move, score 0.5 + 0.5 * 0.3 = 0.65. The Vase (walk-only)
    # has no unshuffle partner of its category; the Bowl's two nodes (object sim -0.2, + bonus
    # 0.5 exp(-0.5 (0.05 / 0.3)^2) = 0.493 -> 0.293 < 0.4: unmatched) lie at one spot (0.05 m < 0.12)
    walk = graph([{"scene": e(0), "obj": e(0), "cat": "Mug", "pos": (0.0, 0.0, 0.9)},
                  {"scene": e(1), "obj": e(1), "cat": "Vase", "pos": (4.0, 0.0, 0.9)},
                  {"scene": e(2), "obj": e(2), "cat": "Bowl", "pos": (5.0, 0.0, 0.9)}])
    unshuffle = graph([{"scene": e(3), "obj": tilt(0, 0.3), "cat": "Mug", "pos": (2.0, 2.0, 0.9)},
                       {"scene": e(4), "obj": tilt(2, -0.2, other=6), "cat": "Bowl",
                        "pos": (5.05, 0.0, 0.9)}])
    assert match_nodes(walk, unshuffle, 0.4, same_category=True, position_bonus=0.5) == []
    ch = only(detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN))
    assert (ch.walk_node, ch.unshuffle_node, ch.kind, ch.category) == (0, 0, "move", "Mug")
    assert ch.score == pytest.approx(0.65, abs=1e-6)
    assert ch.walk_position == pytest.approx((0.0, 0.0, 0.9))
    assert ch.unshuffle_position == pytest.approx((2.0, 2.0, 0.9))
    # pair_unmatched off: nothing
    assert detect_changes(walk, unshuffle, ChangeRules(pair_unmatched=False),
                          pickupable=PICK, openable=OPEN) == []


def test_csr_openness_from_part_displacement() -> None:
    # a Cabinet door's centre swung 0.3 m: "open" (score = 0.3), never "move"; a Fridge door 0.02 m
    # (< open_distance 0.08): nothing; changes come most certain first (the 1 m Apple move: 2.0)
    walk = graph([{"scene": e(0), "cat": "Cabinet", "pos": (1.0, 0.0, 1.0)},
                  {"scene": e(1), "cat": "Fridge", "pos": (3.0, 0.0, 1.0)},
                  {"scene": e(2), "cat": "Apple", "pos": (5.0, 0.0, 1.0)}])
    unshuffle = graph([{"scene": e(0), "cat": "Cabinet", "pos": (1.3, 0.0, 1.0)},
                       {"scene": e(1), "cat": "Fridge", "pos": (3.0, 0.02, 1.0)},
                       {"scene": e(2), "cat": "Apple", "pos": (5.0, 1.0, 1.0)}])
    got = detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN)
    assert [(c.walk_node, c.unshuffle_node, c.kind, c.category) for c in got] == [
        (2, 2, "move", "Apple"), (0, 0, "open", "Cabinet")]
    assert [c.score for c in got] == pytest.approx([2.0, 0.3])
    assert got[1].walk_position == pytest.approx((1.0, 0.0, 1.0))
    assert got[1].unshuffle_position == pytest.approx((1.3, 0.0, 1.0))
    # the paper rule on the same graphs: no openness, and identical scene features -> nothing
    assert detect_changes(walk, unshuffle, "paper", pickupable=PICK, openable=OPEN) == []


def test_csr_ignores_categories_that_are_neither_pickupable_nor_openable() -> None:
    walk = graph([{"scene": e(0), "cat": "Sofa", "pos": (0.0, 0.0, 0.4)}])
    unshuffle = graph([{"scene": e(0), "cat": "Sofa", "pos": (2.0, 0.0, 0.4)}])
    assert detect_changes(walk, unshuffle, "csr", pickupable=PICK, openable=OPEN) == []


def test_empty_graphs_have_no_changes() -> None:
    one = graph([{"scene": e(0), "cat": "Mug", "pos": (0.0, 0.0, 0.4)}])
    for rule in ("csr", "paper"):
        assert detect_changes(SceneGraph(), SceneGraph(), rule, pickupable=PICK, openable=OPEN) == []
        assert detect_changes(one, SceneGraph(), rule, pickupable=PICK, openable=OPEN) == []
        assert detect_changes(SceneGraph(), one, rule, pickupable=PICK, openable=OPEN) == []


# ================================================================================== rules
def test_change_rules_validation() -> None:
    with pytest.raises(ValueError, match="rule"):
        ChangeRules(rule="magic")
    with pytest.raises(ValueError, match="keep_distance"):
        ChangeRules(keep_distance=0.5, move_distance=0.3)
    with pytest.raises(ValueError, match="keep_distance"):
        ChangeRules(keep_distance=-0.1)
    with pytest.raises(ValueError, match="rule"):
        detect_changes(SceneGraph(), SceneGraph(), "magic")
    ok = ChangeRules(keep_distance=0.3, move_distance=0.3)     # equal is allowed
    assert (ok.rule, ok.keep_distance, ok.move_distance) == ("csr", 0.3, 0.3)
