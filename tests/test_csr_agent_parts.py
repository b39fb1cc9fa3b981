"""The parts of the CSR rearrangement agents (``embodied.agents.csr``): edge pairs, the scene graph's
category/distance gates, the frame-by-frame graph builder, lattice navigation on the agent's map,
the agent's config checks, and one two-phase episode with tiny random encoders.

Expected values are computed by hand in the comments. Every test that runs an encoder pins torch to
one thread (restored after): on a busy 2-core machine the default two threads make these tiny
networks ~70x slower (OpenMP threads waiting on each other), which is all of this file's time."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from embodied.agents.csr import MOVES, CSRAgent, CSRAgentConfig, CSRPaperConfig
from embodied.agents.csr_navigation import LatticeNav, move_action_offset
from embodied.config import ConfigError
from embodied.interfaces import REARRANGE_ACTION_NAMES
from embodied.perception.csr_encoder import CSREncoder, EncoderConfig, save_encoder
from embodied.perception.csr_tracking import GraphBuilder, neighbour_pairs
from embodied.perception.mapping import MapConfig, TopDownMap
from embodied.perception.scene_graph import SceneGraph, box_position

W = H = 64
# 90 deg HFOV on 64 x 64: fx = fy = 32, principal point at the pixel grid's centre (31.5, 31.5)
CAMERA = {"fx": 32.0, "fy": 32.0, "cx": 31.5, "cy": 31.5, "width": W, "height": H, "height_m": 1.0}
DEPTH = np.full((H, W), 2.0, dtype=np.float32)     # a wall 2 m ahead: every box is 2 m deep
CENTRE_BOX = (24, 24, 40, 40)                      # centre ((24 + 40 - 1) / 2, ...) = (31.5, 31.5)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tiny_encoders() -> tuple[CSREncoder, CSREncoder]:
    torch.manual_seed(0)
    scene = CSREncoder(EncoderConfig(input_size=32, width=8, emb_dim=16, kind="scene"))
    obj = CSREncoder(EncoderConfig(input_size=32, width=8, emb_dim=16, kind="object"))
    return scene, obj


def count_rows(encoder: CSREncoder) -> list[int]:
    """The batch sizes of every forward pass of ``encoder`` from now on."""
    calls: list[int] = []
    encoder.register_forward_hook(lambda module, inputs, output: calls.append(int(inputs[0].shape[0])))
    return calls


def frame_rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


# ================================================================================== edge pairs
# centres (5, 5), (25, 5), (5, 45), (100, 5); distances 0-1: 20, 0-2: 40, 1-2: 44.7, 1-3: 75,
# 0-3: 95, 2-3: 103.1
FOUR = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 40, 10, 50], [95, 0, 105, 10]])


def test_neighbour_pairs_nearest_first_both_orders() -> None:
    # one neighbour: 0 -> 1, 1 -> 0, 2 -> 0, 3 -> 1: pairs {0,1} (20), {0,2} (40), {1,3} (75)
    assert neighbour_pairs(FOUR, neighbours=1, max_edges=16) == [(0, 1), (1, 0), (0, 2), (2, 0), (1, 3), (3, 1)]
    # two: 0 -> 1, 2; 1 -> 0, 2; 2 -> 0, 1; 3 -> 1, 0: {0,1} 20, {0,2} 40, {1,2} 44.7, {1,3} 75, {0,3} 95
    assert neighbour_pairs(FOUR, neighbours=2, max_edges=16) == [
        (0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1), (1, 3), (3, 1), (0, 3), (3, 0)]


def test_neighbour_pairs_cap_and_degenerate_inputs() -> None:
    assert neighbour_pairs(FOUR, neighbours=2, max_edges=4) == [(0, 1), (1, 0), (0, 2), (2, 0)]
    # an odd cap keeps pairs whole: 5 -> 4
    assert neighbour_pairs(FOUR, neighbours=2, max_edges=5) == [(0, 1), (1, 0), (0, 2), (2, 0)]
    assert neighbour_pairs(FOUR, neighbours=2, max_edges=0) == []
    assert neighbour_pairs(FOUR, neighbours=0, max_edges=16) == []
    assert neighbour_pairs(FOUR[:1], neighbours=2, max_edges=16) == []
    assert neighbour_pairs(np.zeros((0, 4)), neighbours=2, max_edges=16) == []
    assert neighbour_pairs(FOUR[:2], neighbours=1, max_edges=16) == [(0, 1), (1, 0)]


def test_neighbour_pairs_never_pairs_a_box_with_itself() -> None:
    # two boxes, the default neighbours=2: the only pair is {0, 1}
    assert neighbour_pairs(FOUR[:2], neighbours=2, max_edges=16) == [(0, 1), (1, 0)]


def test_neighbour_pairs_self_pairs_do_not_reach_the_graph() -> None:
    # whatever neighbour_pairs returns, SceneGraph.update drops a pair whose two detections are one
    # node: two detections, the edge list of neighbour_pairs(neighbours=2) -> only 0->1 and 1->0
    pairs = neighbour_pairs(FOUR[:2], neighbours=2, max_edges=16)
    g = SceneGraph()
    feats = torch.eye(4)[:2]
    g.update(feats, FOUR[:2], edge_pairs=pairs, edge_features=torch.eye(4)[[2] * len(pairs)])
    assert sorted(g.edges) == [(0, 1), (1, 0)]


# ================================================================================== graph gates
def test_box_position_of_the_centre_box() -> None:
    # the centre pixel's ray is the optical axis: 2 m along the heading, at camera height 1 m
    assert box_position(DEPTH, CENTRE_BOX, CAMERA, (0.0, 0.0, 0.0)) == pytest.approx([2.0, 0.0, 1.0])
    assert box_position(DEPTH, CENTRE_BOX, CAMERA, (1.0, 1.0, math.pi / 2)) == pytest.approx([1.0, 3.0, 1.0])


def test_scene_graph_category_gate() -> None:
    f = torch.eye(8)[:1]
    box = [CENTRE_BOX]
    gated = SceneGraph()
    assert gated.update(f, box, categories=["Mug"]) == [0]
    assert gated.update(f, box, categories=["Bowl"]) == [1]      # identical features, other label
    assert gated.update(f, box, categories=["Mug"]) == [0]
    assert gated.categories() == ["Mug", "Bowl"]
    plain = SceneGraph()
    assert plain.update(f, box) == [0]
    assert plain.update(f, box) == [0]                            # no labels: one node
    assert len(plain) == 1 and plain.categories() == [None]


def test_scene_graph_distance_gate() -> None:
    f = torch.eye(8)[:1]

    def see(g: SceneGraph, x: float) -> list[int]:       # the centre box from (x, 0) facing +x
        return g.update(f, [CENTRE_BOX], depth=DEPTH, intrinsics=CAMERA, pose=(x, 0.0, 0.0),
                        categories=["Mug"])

    gated = SceneGraph(gate_distance=1.0)
    assert see(gated, 0.0) == [0]       # at (2, 0, 1)
    assert see(gated, 2.0) == [1]       # at (4, 0, 1): 2 m from node 0 > 1 m
    assert see(gated, 0.5) == [0]       # at (2.5, 0, 1): 0.5 m from node 0, 1.5 m from node 1
    assert gated.positions() == pytest.approx(np.array([[2.25, 0.0, 1.0], [4.0, 0.0, 1.0]]))
    plain = SceneGraph()
    assert see(plain, 0.0) == [0]
    assert see(plain, 2.0) == [0]       # no distance gate: one node, at the mean (3, 0, 1)
    assert plain.positions() == pytest.approx(np.array([[3.0, 0.0, 1.0]]))


# ================================================================================== graph builder
def test_builder_skips_small_boxes(one_thread) -> None:
    scene, obj = tiny_encoders()
    rows = count_rows(scene)
    b = GraphBuilder(scene, obj, CAMERA, min_box_frac=0.008)
    rgb = frame_rgb()
    # 4 x 4 = 16 px = 0.0039 of 4096 (< 0.008): skipped; 8 x 8 = 64 px = 0.0156: kept
    assert b.add_frame(rgb, [(0, 0, 4, 4), (20, 20, 28, 28)], ["Mug", "Bowl"], DEPTH, (0, 0, 0, 0)) == [-1, 0]
    assert rows == [1]                        # one box embedded, no edges (one kept detection)
    assert len(b.graph) == 1 and b.graph.categories() == ["Bowl"]
    assert b.add_frame(rgb, [(0, 0, 4, 4)], ["Mug"], DEPTH, (0, 0, 0, 0)) == [-1]
    assert rows == [1] and len(b.graph) == 1 and b.graph.steps == 2
    with pytest.raises(ValueError, match="categories"):
        b.add_frame(rgb, [(0, 0, 4, 4)], ["Mug", "Bowl"], DEPTH, (0, 0, 0, 0))


def test_builder_max_views_stops_embedding_a_well_seen_node(one_thread) -> None:
    scene, obj = tiny_encoders()
    rows, obj_rows = count_rows(scene), count_rows(obj)
    b = GraphBuilder(scene, obj, CAMERA, max_views=2)           # gates on (the default)
    rgb = frame_rgb()
    pose = (0.0, 0.0, 0.0, 0.0)
    features = []
    for _ in range(5):
        assert b.add_frame(rgb, [CENTRE_BOX], ["Mug"], DEPTH, pose) == [0]
        features.append(b.graph.nodes[0].feature)
    # frames 1 and 2 embed (the node has < 2 views), frames 3-5 only add a view
    assert rows == [1, 1] and obj_rows == [1, 1]
    assert b.skipped == 3
    assert features[1] is not features[0]                        # frame 2 averaged a new feature in
    assert features[4] is features[3] is features[2] is features[1]
    node = b.graph.nodes[0]
    assert len(node.views) == 5 and [v.step for v in node.views] == [0, 1, 2, 3, 4]
    assert b.graph.positions() == pytest.approx(np.array([[2.0, 0.0, 1.0]]))
    # seen from closer (a box 4x the area, same place): embedded again
    b.add_frame(rgb, [(16, 16, 48, 48)], ["Mug"], DEPTH, pose)
    assert rows == [1, 1, 1] and b.skipped == 3


@pytest.mark.parametrize("kwargs", [{}, {"max_views": 2, "gate": False}])
def test_builder_without_max_views_embeds_every_frame(one_thread, kwargs) -> None:
    scene, obj = tiny_encoders()
    rows = count_rows(scene)
    b = GraphBuilder(scene, obj, CAMERA, **kwargs)
    rgb = frame_rgb()
    for _ in range(5):
        assert b.add_frame(rgb, [CENTRE_BOX], ["Mug"], DEPTH, (0.0, 0.0, 0.0, 0.0)) == [0]
    assert rows == [1] * 5 and b.skipped == 0
    assert len(b.graph.nodes[0].views) == 5


class LookAlike(torch.nn.Module):
    """An 'encoder' that gives every box the same unit feature: look-alike objects."""

    def __init__(self) -> None:
        super().__init__()
        self.config = EncoderConfig(input_size=32, width=8, emb_dim=16)
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.ones(x.shape[0], 16), dim=1)


@pytest.mark.parametrize("max_views", [
    None,
    2,
])
def test_builder_gives_two_detections_of_one_frame_two_nodes(one_thread, max_views) -> None:
    # mug A (centre box, at (2, 0, 1)) seen twice alone; then A and a second mug 0.5625 m to its
    # right (box centre u = 40.5 -> lateral 2 * 9 / 32 m), inside gate_distance 1 m, identical
    # features. One-to-one matching within a frame (SceneGraph.update) gives the new mug a new node.
    b = GraphBuilder(LookAlike(), LookAlike(), CAMERA, max_views=max_views)
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    for _ in range(2):
        assert b.add_frame(rgb, [CENTRE_BOX], ["Mug"], DEPTH, (0, 0, 0, 0)) == [0]
    for _ in range(3):
        assert b.add_frame(rgb, [CENTRE_BOX, (33, 24, 49, 40)], ["Mug", "Mug"], DEPTH, (0, 0, 0, 0)) == [0, 1]
    assert b.graph.positions() == pytest.approx(np.array([[2.0, 0.0, 1.0], [2.0, -0.5625, 1.0]]))


# three boxes in a row, centres 20 px apart: pairs {0,1} 20, {1,2} 20, {0,2} 40 -> 6 ordered edges
ROW = [(4, 24, 20, 40), (24, 24, 40, 40), (44, 24, 60, 40)]
ROW_CATS = ["Mug", "Bowl", "Apple"]
ROW_EDGES = [(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0)]


def test_builder_edge_every_two(one_thread) -> None:
    assert neighbour_pairs(np.array(ROW), 2, 16) == ROW_EDGES
    scene, obj = tiny_encoders()
    rows = count_rows(scene)
    b = GraphBuilder(scene, obj, CAMERA, edge_every=2)
    rgb = frame_rgb()
    # frames with detections: 1 (edges), 2 (none), 3 (edges); a frame without detections between
    # them does not count
    assert b.add_frame(rgb, ROW, ROW_CATS, DEPTH, (0, 0, 0, 0)) == [0, 1, 2]
    assert b.add_frame(rgb, [], [], DEPTH, (0, 0, 0, 0)) == []
    assert b.add_frame(rgb, ROW, ROW_CATS, DEPTH, (0, 0, 0, 0)) == [0, 1, 2]
    assert b.add_frame(rgb, ROW, ROW_CATS, DEPTH, (0, 0, 0, 0)) == [0, 1, 2]
    assert rows == [3 + 6, 3, 3 + 6]
    assert sorted(b.graph.edges) == sorted(ROW_EDGES)
    assert b.graph.edge_counts == {k: 2 for k in ROW_EDGES}
    every = GraphBuilder(*tiny_encoders(), CAMERA, edge_every=1)
    for _ in range(3):
        every.add_frame(rgb, ROW, ROW_CATS, DEPTH, (0, 0, 0, 0))
    assert every.graph.edge_counts == {k: 3 for k in ROW_EDGES}


# ================================================================================== lattice nav
HALF = 8                      # lattice points -2 m .. 2 m


def lattice(x: float, y: float) -> tuple[int, int]:
    return int(round(x / 0.25)) + HALF, int(round(y / 0.25)) + HALF


def wall_map() -> TopDownMap:
    """A wall of occupied 0.125 m cells along x = 0.5 m from y = -1 m to 1 m; the rest unknown."""
    m = TopDownMap(MapConfig())
    ys = np.arange(-1.0, 1.0 + 1e-9, 0.125)
    m.mark_occupied(np.stack([np.full_like(ys, 0.5), ys], axis=1))
    return m


def test_lattice_detour_around_a_wall() -> None:
    nav = LatticeNav(wall_map(), half=HALF, clearance=0.15)
    start, goal = lattice(0, 0), lattice(1.0, 0)
    free, _ = nav.grids(0)
    assert not free[lattice(0.5, 0)] and not free[lattice(0.5, 1.0)] and free[lattice(0.5, 1.25)]
    dist, parent = nav.distances(start, 0)
    # 4 moves along x, plus 5 up to y = 1.25 (round the wall's end) and 5 back down
    assert dist[goal] == 4 + 2 * 5
    path = nav.path(parent, goal)
    assert path[0] == start and path[-1] == goal and len(path) == 15
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(path, path[1:]))
    assert all(p[0] != lattice(0.5, 0)[0] or abs(p[1] - HALF) >= 5 for p in path)
    # points next to the wall are 1 move away, the wall's own points unreachable
    assert dist[lattice(0.25, 0)] == 1 and dist[lattice(0.5, 0)] == -1


def test_lattice_block_routes_around_a_refused_move() -> None:
    nav = LatticeNav(wall_map(), half=HALF, clearance=0.15)
    start, goal = lattice(0, 0), lattice(1.0, 0)
    nav.block(lattice(0.25, 1.25), 0)                 # +x from (0.25, 1.25) was refused
    nav.block(lattice(0.5, 1.25), 2)                  # the same edge, seen from the other side
    assert len(nav.blocked) == 1
    dist, parent = nav.distances(start, 0)
    assert dist[goal] == 14                           # round the other end, y = -1.25
    path = nav.path(parent, goal)
    assert lattice(0.5, -1.25) in path and lattice(0.5, 1.25) not in path
    nav.block(lattice(0.25, -1.25), 0)                # both ends' crossings refused: y = +-1.5
    dist, parent = nav.distances(start, 0)
    assert dist[goal] == 4 + 2 * 6
    path = nav.path(parent, goal)
    for a, b in zip(path, path[1:]):
        assert {a, b} not in ({lattice(0.25, 1.25), lattice(0.5, 1.25)},
                              {lattice(0.25, -1.25), lattice(0.5, -1.25)})


def test_lattice_unknown_near_and_known_free() -> None:
    m = TopDownMap(MapConfig())
    xs = np.arange(-1.5, 1.5 + 1e-9, 0.125)             # cell centres of the square [-1.5, 1.5]^2
    gx, gy = np.meshgrid(xs, xs)
    m.mark_free(np.stack([gx.ravel(), gy.ravel()], axis=1))
    m.mark_occupied(np.array([[0.5, 0.5]]))
    nav = LatticeNav(m, half=HALF)
    near = nav.unknown_near()                           # 9 x 9 cell window (0.5 m), >= 6 unknown
    assert not near[lattice(0, 0)] and not near[lattice(1.0, 0)] and not near[lattice(1.0, 1.0)]
    # at x = 1.25 the window reaches x = 1.75: 2 unknown columns x 9 rows = 18 cells
    assert near[lattice(1.25, 0)] and near[lattice(1.5, 0)] and near[lattice(2.0, -2.0)]
    assert nav.unknown_near(min_cells=18)[lattice(1.25, 0)]
    assert not nav.unknown_near(min_cells=19)[lattice(1.25, 0)]
    known = nav.known_free()
    assert known[lattice(0, 0)] and known[lattice(1.5, 1.5)]
    assert not known[lattice(0.5, 0.5)] and not known[lattice(1.75, 0)]


def test_move_action_offset_table() -> None:
    # heading / direction: 0 = +x, 1 = +y, 2 = -x, 3 = -y (quarter turns left of +x);
    # offsets: 0 ahead, 1 left, 2 back, 3 right. Facing +x, +y is on the left.
    table = {  # heading: offsets for directions (+x, +y, -x, -y)
        0: (0, 1, 2, 3),
        1: (3, 0, 1, 2),
        2: (2, 3, 0, 1),
        3: (1, 2, 3, 0),
    }
    for heading, offsets in table.items():
        for direction, offset in enumerate(offsets):
            assert move_action_offset(direction, heading) == offset, (direction, heading)
    # and the env moves that way: its move angle relative to the heading (rearrange._MOVES)
    from embodied.envs.rearrange import _MOVES
    for heading in range(4):
        for direction in range(4):
            name = MOVES[move_action_offset(direction, heading)]
            assert (90 * heading + _MOVES[name]) % 360 == 90 * direction


# ================================================================================== config
@pytest.fixture
def checkpoints(tmp_path: Path) -> tuple[str, str]:
    scene, obj = tiny_encoders()
    return (str(save_encoder(scene, tmp_path / "scene.pt")),
            str(save_encoder(obj, tmp_path / "object.pt")))


def test_config_rejects_missing_checkpoints_and_bad_values(tmp_path: Path, checkpoints) -> None:
    scene, obj = checkpoints
    with pytest.raises(ConfigError, match="scene_model") as err:
        CSRAgentConfig(scene_model=str(tmp_path / "missing.pt"), object_model=obj)
    assert err.value.key == "scene_model"
    with pytest.raises(ConfigError) as err:
        CSRAgentConfig(scene_model=scene, object_model=str(tmp_path / "missing.pt"))
    assert err.value.key == "object_model"
    with pytest.raises(ConfigError) as err:
        CSRAgentConfig(scene_model=scene, object_model=obj, rule="magic")
    assert err.value.key == "rule"
    with pytest.raises(ConfigError) as err:
        CSRAgentConfig(scene_model=scene, object_model=obj, reach=1.6)
    assert err.value.key == "reach"
    with pytest.raises(ConfigError) as err:
        CSRAgentConfig(scene_model=scene, object_model=obj, reach=0.5, min_reach=0.5)
    assert err.value.key == "reach"
    with pytest.raises(ConfigError) as err:
        CSRAgentConfig(scene_model=scene, object_model=obj, walkthrough_budget=0)
    assert err.value.key == "walkthrough_budget"
    assert CSRAgentConfig(scene_model=scene, object_model=obj, reach=1.5).reach == 1.5
    paper = CSRPaperConfig(scene_model=scene, object_model=obj)
    assert (paper.id, paper.rule, paper.gate, paper.max_views, paper.fix_openness) == (
        "csr_paper", "paper", False, None, False)


# ================================================================================== an episode
def anonymise(obs: dict, rng: np.random.Generator) -> dict:
    """The observation without instance masks and with fresh random instance ids in ``boxes``."""
    out = {k: v for k, v in obs.items() if k not in ("instance", "semantic")}
    boxes = np.array(obs["boxes"], copy=True)
    used = boxes[:, 0] >= 0
    boxes[used, 0] = rng.choice(np.arange(1, 1_000_000), size=int(used.sum()), replace=False)
    out["boxes"] = boxes
    return out


def run_episode(config: CSRAgentConfig, anonymous: bool) -> tuple[list[int], int, dict, bool]:
    """(actions, steps of the walkthrough, the last info, terminated) of one val episode."""
    from embodied.envs import rearrange_episodes as eps
    from embodied.envs.rearrange import RearrangeConfig, RearrangeEnv

    env = RearrangeEnv(RearrangeConfig(split="val", width=96, height=96), privileged=True)
    rng = np.random.default_rng(1)
    try:
        obs, info = env.reset(seed=0, options={"episode": eps.split_episode("val", 0)})
        agent = CSRAgent(config)
        if anonymous:
            info = {k: v for k, v in info.items() if k != "privileged"}
        agent.reset(info)
        actions: list[int] = []
        walk_steps = -1
        terminated = truncated = False
        limit = env.config.walkthrough_steps + env.config.unshuffle_steps
        while not (terminated or truncated):
            assert len(actions) < limit
            a = agent.act(anonymise(obs, rng) if anonymous else obs)
            assert isinstance(a, int) and 0 <= a < env.action_space.n
            actions.append(a)
            obs, _, terminated, truncated, info = env.step(a)
            if info.get("phase_switched"):
                assert walk_steps == -1
                walk_steps = len(actions)
                assert obs["phase"] == 1
        return actions, walk_steps, info, terminated
    finally:
        env.close()


@pytest.mark.parametrize("paper", [False, True], ids=["csr", "csr_paper"])
def test_episode_runs_both_phases_without_instance_ids(one_thread, checkpoints, paper) -> None:
    scene, obj = checkpoints
    cls = CSRPaperConfig if paper else CSRAgentConfig
    config = cls(scene_model=scene, object_model=obj, walkthrough_budget=40, revisit_budget=10,
                 threads=1)
    actions, walk_steps, info, terminated = run_episode(config, anonymous=False)
    done = REARRANGE_ACTION_NAMES.index("done")
    # the walkthrough ends with the agent's own `done`, within its budget (+1: the done itself)
    assert 1 <= walk_steps <= 41
    assert actions[walk_steps - 1] == done and done not in actions[:walk_steps - 1]
    assert "metrics" in info and info["metrics"]["walkthrough_steps"] == walk_steps
    assert info["metrics"]["steps"] == len(actions)
    assert {"success", "fixed_strict", "misplaced", "energy_remaining"} <= set(info["metrics"])
    if terminated:
        assert actions[-1] == done
    # the same episode with instance masks gone and random ids every frame: the same actions
    again, walk_again, _, _ = run_episode(config, anonymous=True)
    assert again == actions and walk_again == walk_steps


def test_debug_frame_shows_both_phases_and_the_graph(one_thread, checkpoints) -> None:
    """The video panel: in the unshuffle phase, the walkthrough's frame from the same lattice pose
    above the current frame, beside a map with the walkthrough graph's nodes drawn in."""
    from embodied import viz_rearrange
    from embodied.envs import rearrange_episodes as eps
    from embodied.envs.rearrange import RearrangeConfig, RearrangeEnv

    scene, obj = checkpoints
    agent = CSRAgent(CSRAgentConfig(scene_model=scene, object_model=obj, walkthrough_budget=30,
                                    revisit_budget=5, threads=1))
    env = RearrangeEnv(RearrangeConfig(split="val", width=96, height=96), privileged=True)
    try:
        obs, info = env.reset(seed=0, options={"episode": eps.split_episode("val", 0)})
        agent.reset(info)
        first_rgb = obs["rgb"].copy()
        assert agent.debug_frame() is None            # nothing seen yet
        while True:
            obs, _, _, _, info = env.step(agent.act(obs))
            if info.get("phase_switched"):
                break
        agent.act(obs)                                 # the first unshuffle frame, at the start pose
        frame = agent.debug_frame()
    finally:
        env.close()
    assert frame.shape == (96, 48 + 96, 3) and frame.dtype == np.uint8
    # top left: the walkthrough's first frame (same start pose), halved twice (stored, then fitted)
    assert np.array_equal(frame[:48, :48], first_rgb[::2, ::2])
    # bottom left: the current frame; right: the map with the walkthrough graph's nodes (blue)
    assert np.array_equal(frame[48:, :48], obs["rgb"][::2, ::2])
    walk_blue = np.all(frame[:, 48:] == viz_rearrange._WALK, axis=-1)
    assert len(agent.graphs[0]) > 0 and walk_blue.any()


def test_crop_inputs_put_the_box_where_the_window_maps_it() -> None:
    """A box (40, 40, 48, 48) of a 96 px frame, context 2, at least 24 px: the window is
    (32, 32, 56, 56) (side max(2 * 8, 24) = 24 around the centre 44), scaled 64 / 24, so the
    box's mask is [21, 43) x [21, 43) of the 64 px input, and the red square drawn in the box
    fills that mask in the image channels."""
    from embodied.perception.csr_encoder import EncoderConfig, crop_windows, inputs_for

    rgb = np.zeros((96, 96, 3), dtype=np.uint8)
    rgb[40:48, 40:48, 0] = 255
    box = np.array([[40, 40, 48, 48]])
    assert np.allclose(crop_windows(box, box, 2.0, 24), [[32, 32, 56, 56]])
    cfg = EncoderConfig(input_size=64, frame_size=96, crop_context=2.0, crop_min=24)
    x = inputs_for(cfg, rgb, box, box)
    assert x.shape == (1, 5, 64, 64)
    mask = x[0, 3].numpy()
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (21, 43, 21, 43)
    assert np.array_equal(mask, x[0, 4].numpy())            # a node: its box twice
    red = x[0, 0].numpy() > 0.0                             # normalised: red > mean only in the square
    inside = red[22:42, 22:42].mean()
    outside = np.concatenate([red[:18].ravel(), red[46:].ravel()]).mean()
    assert inside > 0.95 and outside < 0.05
    # an edge's window holds both boxes; the release's whole frame ignores the crop settings
    other = np.array([[70, 10, 80, 20]])
    win = crop_windows(box, other, 2.0, 24)[0]
    assert win[0] <= 40 and win[1] <= 10 and win[2] >= 80 and win[3] >= 48
    whole = inputs_for(EncoderConfig(input_size=96), rgb, box, other)
    assert whole.shape == (1, 5, 96, 96) and whole[0, 3].sum() == 64 and whole[0, 4].sum() == 100


def test_detectors_plug_in_and_decide_privilege(tmp_path: Path, checkpoints) -> None:
    """Ground truth drops ids and makes boxes half-open; another detector is an import path, and
    an agent using an unprivileged detector asks the runner for no privileged env."""
    from embodied import registry
    from embodied.perception.detection import GroundTruthDetector, make_detector

    gt = GroundTruthDetector({"Mug": 3, "Cabinet": 7})
    rows = np.full((4, 6), -1, dtype=np.int32)
    rows[0] = (17, 3, 10, 20, 14, 29)
    rows[1] = (9, 7, 0, 0, 0, 0)
    boxes, cats = gt.detect({"boxes": rows})
    assert boxes.tolist() == [[10, 20, 15, 30], [0, 0, 1, 1]] and cats == ["Mug", "Cabinet"]
    with pytest.raises(KeyError, match="privileged"):
        gt.detect({"rgb": np.zeros((4, 4, 3), np.uint8)})
    scene, obj = checkpoints
    assert registry.agent_needs_privileged(CSRAgentConfig(scene_model=scene, object_model=obj))
    module = tmp_path / "my_detector.py"
    module.write_text("import numpy as np\nclass Nothing:\n    privileged = False\n"
                      "    def detect(self, obs):\n        return np.zeros((0, 4), int), []\n")
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        cfg = CSRAgentConfig(scene_model=scene, object_model=obj, detector="my_detector:Nothing")
        assert not registry.agent_needs_privileged(cfg)
        assert make_detector("my_detector:Nothing").detect({})[1] == []
    finally:
        sys.path.remove(str(tmp_path))
    with pytest.raises(ConfigError) as err:
        CSRAgentConfig(scene_model=scene, object_model=obj, detector="nowhere")
    assert err.value.key == "detector"
