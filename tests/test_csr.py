"""CSR perception (Gadre et al., CVPR 2022): encoders, MoCo-v2 training, pair sampling, the online scene
graph, 3-D placement and retrieval evaluation, on hand-made cases with known answers and a tiny training
run on synthetic frames."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torchvision.transforms import functional as TF

from embodied.perception import csr_encoder as ce
from embodied.perception.csr_encoder import (CSREncoder, EncoderConfig, ProjectionHead, embed_edges,
                                             embed_frame, embed_nodes, load_encoder, prepare_inputs,
                                             save_encoder, scale_boxes)
from embodied.perception.geometry import Intrinsics, points_to_pixels
from embodied.perception.scene_graph import (SceneGraph, average_features, box_position,
                                             hungarian_match, match_graphs)
from embodied.training import csr
from embodied.training.csr_data import boxes_from_instances, synthetic_trajectories

TINY = EncoderConfig(input_size=32, width=8)


def unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


# ================================================================================== encoder
def test_encoder_outputs_unit_norm_embeddings_of_the_configured_size() -> None:
    torch.manual_seed(0)
    enc = CSREncoder(TINY)
    x = torch.randn(6, 5, 32, 32)
    out = enc(x)
    assert out.shape == (6, 512)
    assert torch.allclose(out.norm(dim=1), torch.ones(6), atol=1e-5)
    assert enc.features(x).norm(dim=1).min() > 0  # normalisation is the last step, not a no-op
    wide = CSREncoder(EncoderConfig(input_size=64, width=8, emb_dim=128))
    assert wide(torch.randn(2, 5, 64, 64)).shape == (2, 128)


def test_width_64_backbone_is_torchvision_resnet18_with_five_input_channels() -> None:
    ours = ce.ResNetBackbone(in_channels=5, width=64, out_dim=512)
    ref = torchvision.models.resnet18(weights=None, num_classes=512)
    ref.conv1 = nn.Conv2d(5, 64, kernel_size=7, stride=2, padding=3, bias=False)
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())  # same keys: a torchvision checkpoint would load
    ours.eval(), ref.eval()
    x = torch.randn(2, 5, 64, 64)
    assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_projection_head_is_512_256_bn_relu_512() -> None:
    head = ProjectionHead(512)
    kinds = [type(m) for m in head]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (head[0].in_features, head[0].out_features) == (512, 256)
    assert head[1].num_features == 256
    assert (head[3].in_features, head[3].out_features) == (256, 512)


def test_mask_channels_are_exactly_the_boxes_and_rgb_is_imagenet_normalised() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    x = prepare_inputs(rgb, [(3, 5, 10, 9), (0, 0, 40, 40)], [(20, 30, 21, 31), (39, 39, 40, 40)], size=40)
    assert x.shape == (2, 5, 40, 40)
    expect = torch.zeros(40, 40)
    expect[5:9, 3:10] = 1
    assert torch.equal(x[0, 3], expect)
    single = torch.zeros(40, 40)
    single[30, 20] = 1
    assert torch.equal(x[0, 4], single)
    assert torch.equal(x[1, 3], torch.ones(40, 40))
    corner = torch.zeros(40, 40)
    corner[39, 39] = 1
    assert torch.equal(x[1, 4], corner)
    mean, std = torch.tensor(ce.IMAGENET_MEAN), torch.tensor(ce.IMAGENET_STD)
    raw = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    assert torch.allclose(x[0, :3], (raw - mean[:, None, None]) / std[:, None, None], atol=1e-6)
    assert set(torch.unique(x[:, 3:]).tolist()) == {0.0, 1.0}


def test_boxes_are_scaled_to_the_input_grid_not_resampled() -> None:
    boxes = np.array([(10, 20, 30, 40), (0, 0, 1, 1), (5, 5, 5, 9)])
    out = scale_boxes(boxes, (80, 80), (40, 40))
    assert out.tolist() == [[5, 10, 15, 20], [0, 0, 1, 1], [3, 3, 3, 5]]  # tiny box keeps a pixel
    rgb = np.zeros((80, 80, 3), np.uint8)
    x = prepare_inputs(rgb, boxes[:1], boxes[:1], 40)
    assert x[0, 3].sum() == 100 and x[0, 3, 10:20, 5:15].sum() == 100


def test_embedding_api_shapes_and_agreement() -> None:
    torch.manual_seed(0)
    enc = CSREncoder(TINY).eval()
    rgb = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    boxes = [(0, 0, 10, 10), (12, 4, 30, 20), (5, 20, 15, 32)]
    nodes = embed_nodes(enc, rgb, boxes)
    pairs, edges = embed_edges(enc, rgb, boxes)
    assert nodes.shape == (3, 512) and edges.shape == (6, 512) and len(pairs) == 6
    assert pairs == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    frame = embed_frame(enc, enc, rgb, boxes)
    assert torch.allclose(frame.nodes, nodes, atol=1e-5) and torch.allclose(frame.objects, nodes, atol=1e-5)
    assert torch.allclose(frame.edges, edges, atol=1e-5) and frame.edge_pairs == pairs
    assert embed_nodes(enc, rgb, []).shape == (0, 512)
    assert enc.training is False
    enc.train()
    embed_nodes(enc, rgb, boxes)
    assert enc.training  # the caller's mode is restored


def test_checkpoint_round_trip_in_fp16_and_release_size_under_25_mb(tmp_path) -> None:
    torch.manual_seed(0)
    enc = CSREncoder(TINY).eval()
    path = save_encoder(enc, tmp_path / "tiny.pt", meta={"steps": 3})
    loaded = load_encoder(path)
    assert loaded.config == TINY and loaded.meta == {"steps": 3}
    x = torch.randn(3, 5, 32, 32)
    assert torch.allclose(loaded(x), enc(x), atol=2e-2)
    full = CSREncoder(EncoderConfig(input_size=224, width=64))
    size = save_encoder(full, tmp_path / "full.pt").stat().st_size
    assert 20e6 < size <= 25e6, size  # ~22.9 MB: 11.4 M parameters in fp16
    with pytest.raises(ValueError, match="not a CSR encoder"):
        torch.save({"x": 1}, tmp_path / "bad.pt")
        load_encoder(tmp_path / "bad.pt")


# ================================================================================= MoCo
def test_moco_loss_on_identical_queries_and_keys() -> None:
    q = unit([1, 0, 0, 0], [0, 1, 0, 0])
    queue = unit([0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0])  # orthogonal to both queries
    t = 0.07
    logits = csr.moco_logits(q, q.clone(), queue, t)
    assert logits.shape == (2, 4)
    assert torch.allclose(logits[:, 0], torch.full((2,), 1 / t))
    assert torch.allclose(logits[:, 1:], torch.zeros(2, 3))
    # loss = -log(e^(1/T) / (e^(1/T) + 3 e^0)) = log(1 + 3 e^(-1/T)); T = 0.5 keeps it far from 0 in fp32
    loss = torch.nn.functional.cross_entropy(csr.moco_logits(q, q.clone(), queue, 0.5), torch.zeros(2, dtype=torch.long))
    assert loss.item() == pytest.approx(math.log(1 + 3 * math.exp(-2.0)), rel=1e-6)
    # a queued key equal to the query ties with the positive
    same = csr.moco_logits(q[:1], q[:1], q[:1], 1.0)
    assert torch.allclose(same, torch.tensor([[1.0, 1.0]]))
    # in-batch negatives: the other key is a negative unless marked the same node/edge
    inb = csr.moco_logits(q, q, queue, 1.0, batch_negatives=True)
    assert inb.shape == (2, 1 + 2 + 3)
    assert inb[0, 1] == float("-inf") and inb[0, 2] == 0.0
    masked = csr.moco_logits(q, q, queue, 1.0, True, torch.ones(2, 2, dtype=torch.bool))
    assert torch.isinf(masked[:, 1:3]).all()


def test_momentum_update_arithmetic_leaves_buffers() -> None:
    torch.manual_seed(0)
    query, key = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    key[1].running_mean.fill_(7.0)
    before_q = [p.detach().clone() for p in query.parameters()]
    before_k = [p.detach().clone() for p in key.parameters()]
    csr.momentum_update(query, key, 0.999)
    for bq, bk, pk in zip(before_q, before_k, key.parameters()):
        assert torch.allclose(pk, 0.999 * bk + 0.001 * bq, atol=1e-7)
    assert torch.equal(key[1].running_mean, torch.full((2,), 7.0))
    csr.momentum_update(query, key, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(query.parameters(), key.parameters()))


def test_queue_wraps_around_and_moco_step_enqueues_keys_per_head() -> None:
    torch.manual_seed(0)
    m = csr.MoCo(EncoderConfig(input_size=32, width=4, emb_dim=8), queue_size=5)
    keys = unit(*np.eye(8)[:4].tolist())
    m.ptr_node.fill_(3)
    m.enqueue("node", keys)
    assert [torch.equal(m.queue_node[i], keys[j]) for i, j in ((3, 0), (4, 1), (0, 2), (1, 3))] == [True] * 4
    assert int(m.ptr_node) == 2
    x = torch.randn(8, 5, 32, 32)
    is_node = torch.tensor([1, 0, 1, 0, 1, 0, 1, 1], dtype=torch.bool)
    out = m(x, x, is_node)
    assert int(out["n_node"]) == 5 and int(out["n_edge"]) == 3
    assert int(m.ptr_node) == (2 + 5) % 5 and int(m.ptr_edge) == 3
    assert out["loss"].requires_grad and torch.isfinite(out["loss"])
    assert not any(p.requires_grad for p in m.encoder_k.parameters())


# ============================================================================== sampling
def _toy_dataset() -> list[csr.Trajectory]:
    """Two houses x two phases x 5 frames; every frame shows 3 big objects and one 0.5 % box."""
    trajs = []
    rgb = np.zeros((40, 40, 3), np.uint8)
    cats = {1: "cup", 2: "cup", 3: "bowl", 4: "lamp"}
    for house in (7, 8):
        for phase in range(2):
            frames = []
            for t in range(5):
                ids = [1, 2, 3] if t % 2 else [1, 3, 4]
                dets = [(i, cats[i], (2 + 8 * k, 2, 10 + 8 * k, 12)) for k, i in enumerate(ids)]
                dets.append((9, "crumb", (30, 30, 32, 34)))  # 8 px = 0.5 % of 1600 px: dropped
                frames.append(csr.Frame.from_detections(rgb, dets))
            trajs.append(csr.Trajectory(frames, house, f"p{phase}", f"h{house}p{phase}"))
    return trajs


def test_sampler_balances_nodes_and_edges_and_drops_small_boxes() -> None:
    trajs = _toy_dataset()
    sampler = csr.PairSampler(trajs, "scene", seed=0)
    draws = [sampler.sample() for _ in range(4000)]
    nodes = sum(d.is_node for d in draws)
    assert abs(nodes / len(draws) - 0.5) < 0.03
    batch = sampler.sample_batch(32)
    assert sum(s.is_node for s in batch) == 16
    for d in draws:
        for o in (d.query, d.key):
            frame = trajs[o.traj].frames[o.frame]
            assert 9 not in (frame.instance_ids[o.first], frame.instance_ids[o.second])
        # scene positives: one trajectory, two timesteps, the same instance(s)
        assert d.query.traj == d.key.traj and d.query.frame != d.key.frame
        fq, fk = trajs[d.query.traj].frames[d.query.frame], trajs[d.key.traj].frames[d.key.frame]
        assert fq.instance_ids[d.query.first] == fk.instance_ids[d.key.first]
        assert fq.instance_ids[d.query.second] == fk.instance_ids[d.key.second]
    # then uniform over classes: "cup" (2 instances) and "bowl", "lamp" (1 each) drawn equally
    node_classes = Counter(trajs[d.query.traj].frames[d.query.frame].categories[d.query.first]
                           for d in draws if d.is_node)
    assert set(node_classes) == {"cup", "bowl", "lamp"}
    shares = np.array(list(node_classes.values())) / sum(node_classes.values())
    assert np.all(np.abs(shares - 1 / 3) < 0.05)
    counts = sampler.counts()
    assert counts["node"]["classes"] == 3 and counts["edge"]["classes"] == 7  # ordered category pairs


def test_object_sampler_pairs_the_same_object_across_trajectories() -> None:
    trajs = _toy_dataset()
    sampler = csr.PairSampler(trajs, "object", seed=1)
    assert sampler.kinds() == ["node"]
    batch = sampler.sample_batch(200)
    assert all(s.is_node for s in batch)
    for s in batch:
        tq, tk = trajs[s.query.traj], trajs[s.key.traj]
        assert s.query.traj != s.key.traj and tq.house_seed == tk.house_seed
        assert tq.frames[s.query.frame].instance_ids[s.query.first] == tk.frames[s.key.frame].instance_ids[s.key.first]


def test_grouped_batches_add_other_objects_of_the_same_two_frames() -> None:
    sampler = csr.PairSampler(_toy_dataset(), "scene", seed=2, group=3)
    batch = sampler.sample_batch(24)
    assert len(batch) == 24 and sum(s.is_node for s in batch) == 12
    frames = Counter((s.query.traj, s.query.frame, s.key.frame, s.is_node) for s in batch)
    assert max(frames.values()) >= 2
    anchor = sampler.sample_kind("edge")
    extra = sampler.companions(anchor, 10)
    ids = [anchor.identity] + [c.identity for c in extra]
    assert len(ids) == len(set(ids)) and 1 <= len(extra) <= 5  # 3 objects in both frames: 6 edges
    for c in extra:
        assert (c.query.traj, c.query.frame, c.key.frame) == (anchor.query.traj, anchor.query.frame, anchor.key.frame)
        assert not c.is_node


# ========================================================================== augmentation
def test_hue_shift_matches_torchvision_and_zero_jitter_is_identity() -> None:
    rng = np.random.default_rng(0)
    img = torch.rand(2, 3, 8, 8)
    hsv = csr.rgb_to_hsv(img)
    assert torch.allclose(csr.hsv_to_rgb(hsv), img, atol=1e-5)
    shifted = hsv.clone()
    shifted[:, 0] = (shifted[:, 0] + 0.15) % 1.0
    assert torch.allclose(csr.hsv_to_rgb(shifted)[0], TF.adjust_hue(img[0], 0.15), atol=1e-4)
    assert torch.allclose(csr.color_augment(img, rng, (0, 0, 0, 0), 0.0), img, atol=1e-5)
    gray = csr.color_augment(img, rng, (0, 0, 0, 0), 1.0)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    out = csr.color_augment(img, rng)
    assert out.shape == img.shape and out.min() >= 0 and out.max() <= 1


# ================================================================================ dataset
def test_dataset_round_trip_and_boxes_from_instance_masks(tmp_path) -> None:
    inst = np.zeros((6, 8), np.int32)
    inst[1:3, 2:5] = 4
    inst[5, 7] = 9
    assert boxes_from_instances(inst) == {4: (2, 1, 5, 3), 9: (7, 5, 8, 6)}
    assert boxes_from_instances(inst, min_pixels=2) == {4: (2, 1, 5, 3)}
    trajs = _toy_dataset()[:2]
    trajs[0].frames[0].depth = None
    paths = csr.save_dataset(trajs, tmp_path / "ds")
    back = csr.load_dataset(tmp_path / "ds")
    assert [p.name for p in paths] == ["h7p0.npz", "h7p1.npz"]
    for a, b in zip(trajs, back):
        assert (a.house_seed, a.phase, a.trajectory_id) == (b.house_seed, b.phase, b.trajectory_id)
        for fa, fb in zip(a.frames, b.frames):
            assert fa.detections == fb.detections and np.array_equal(fa.rgb, fb.rgb)


# =========================================================================== scene graph
def test_hungarian_matching_on_a_hand_made_similarity() -> None:
    sim = np.array([[0.9, 0.8, 0.1],
                    [0.85, 0.2, 0.3],
                    [0.1, 0.45, 0.4]])
    # greedy would give row 0 -> col 0 and row 1 -> nothing good; the optimum is 0->1, 1->0, 2->2
    assert hungarian_match(sim, 0.0) == [(0, 1), (1, 0), (2, 2)]
    assert hungarian_match(sim, 0.5) == [(0, 1), (1, 0)]
    assert hungarian_match(np.zeros((0, 3)), 0.5) == []


def test_scene_graph_matches_averages_and_links_edges() -> None:
    g = SceneGraph()
    a, b, c = unit([1, 0, 0, 0]), unit([0, 1, 0, 0]), unit([0, 0, 1, 0])
    boxes = [(0, 0, 4, 4), (5, 5, 9, 9)]
    e01, e10 = unit([0, 0, 0, 1]), unit([0, 0, 1, 1])
    assert g.update(torch.cat([a, b]), boxes, edge_pairs=[(0, 1), (1, 0)], edge_features=torch.cat([e01, e10])) == [0, 1]
    # frame 2: b (slightly changed) first, then a new object c; a is not seen
    b2 = unit([0.3, 1, 0, 0])
    e_bc = unit([1, 1, 0, 0])
    assign = g.update(torch.cat([b2, c]), [(1, 1, 3, 3), (2, 2, 6, 6)], edge_pairs=[(0, 1)], edge_features=e_bc)
    assert assign == [1, 2] and len(g) == 3
    assert torch.allclose(g.nodes[1].feature, torch.nn.functional.normalize((b[0] + b2[0]) / 2, dim=0))
    assert torch.allclose(g.nodes[1].feature.norm(), torch.tensor(1.0))
    # frame 3: a and b again, edge (a, b) seen a second time: averaged, renormalised
    e01b = unit([0, 1, 0, 1])
    g.update(torch.cat([a, b]), boxes, edge_pairs=[(0, 1)], edge_features=e01b)
    assert torch.allclose(g.edges[(0, 1)], average_features(e01[0], e01b[0]))
    assert g.edge_counts == {(0, 1): 2, (1, 0): 1, (1, 2): 1}
    # below the 0.5 threshold: a new node, even though it is the best match
    weak = unit([1, 0, 0, 2])  # cos 0.447 with node 0
    assert g.update(weak, [(0, 0, 2, 2)]) == [3]
    data = g.to_data()
    assert data.num_nodes == 4 and data.x.shape == (4, 4) and data.obj_x.shape == (4, 4)
    assert data.edge_index.tolist() == [[0, 1, 1], [1, 0, 2]] and data.edge_attr.shape == (3, 4)
    assert data.n_obs.tolist() == [2, 3, 1, 1] and data.edge_n_obs.tolist() == [2, 1, 1]
    assert torch.isnan(data.pos).all()  # no depth given


def test_graph_matching_between_phases_uses_object_features_and_0_4() -> None:
    g1, g2 = SceneGraph(), SceneGraph()
    f1 = unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
    g1.update(f1, [(0, 0, 1, 1)] * 3, object_features=f1)
    obj2 = unit([0, 0.9, 0.1], [1, 0.1, 0], [0.45, 0.55, 0.7])
    g2.update(unit([0, 0, 1], [1, 0, 0], [0, 1, 0]), [(0, 0, 1, 1)] * 3, object_features=obj2)
    sim = (f1 @ obj2.T).numpy()
    pairs = match_graphs(g1, g2)
    assert pairs == [(0, 1), (1, 0), (2, 2)] and all(sim[i, j] > 0.4 for i, j in pairs)
    assert match_graphs(g1.to_data(), g2.to_data(), threshold=0.8) == [(0, 1), (1, 0)]


def test_box_position_back_projects_the_median_depth() -> None:
    intr = Intrinsics.from_fov(40, 30, math.pi / 2, camera_height=0.9, far=10.0)
    camera = {"fx": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy, "width": 40, "height": 30,
              "far": 10.0, "camera_height": 0.9}
    depth = np.full((30, 40), 3.0)
    depth[10:20, 15:25] = 2.0
    depth[10, 15] = 10.0  # sky pixel (at far): ignored
    depth[11, 15] = 0.5   # an outlier: the median ignores it
    # looking along +x from (1, 2): the centre pixel's ray is +x, so the point is 2 m ahead
    centre_box = (15, 10, 25, 20)  # centre pixel (19.5, 14.5) = (cx, cy)
    p = box_position(depth, centre_box, camera, (1.0, 2.0, 0.0))
    assert np.allclose(p, [3.0, 2.0, 0.9])
    # turned 90 deg left: ahead is +y
    assert np.allclose(box_position(depth, centre_box, camera, (1.0, 2.0, math.pi / 2)), [1.0, 4.0, 0.9])
    # off-centre box, pitched camera: projecting the point back lands on the box centre at that depth
    box = (2, 3, 8, 9)
    pose = (0.5, -1.0, 0.7, -0.3)
    p = box_position(depth, box, intr, pose)
    uv, z = points_to_pixels(p[None], intr, pose)
    assert np.allclose(uv[0], [(2 + 8 - 1) / 2, (3 + 9 - 1) / 2]) and z[0] == pytest.approx(3.0)
    assert np.isnan(box_position(np.full((30, 40), 10.0), box, intr, pose)).all()


def test_scene_graph_keeps_poses_and_positions() -> None:
    intr = Intrinsics.from_fov(40, 30, math.pi / 2, camera_height=0.9, far=10.0)
    depth = np.full((30, 40), 2.0)
    g = SceneGraph()
    f = unit([1, 0], [0, 1])
    g.update(f, [(15, 10, 25, 20), (0, 0, 2, 2)], depth=depth, intrinsics=intr, pose=(0.0, 0.0, 0.0))
    g.update(f[:1], [(14, 9, 26, 21)], depth=depth * 2, intrinsics=intr, pose=(1.0, 0.0, 0.0, 0.0))
    data = g.to_data()
    assert np.allclose(data.pos[0].numpy(), [(2.0 + 5.0) / 2, 0.0, 0.9], atol=1e-5)
    assert data.view_pose[0].tolist() == [1.0, 0.0, 0.0, 0.0]  # the larger box's view
    assert g.nodes[0].views[0].pose == (0.0, 0.0, 0.0)


# =========================================================================== evaluation
def test_retrieval_top1_by_hand() -> None:
    q = unit([1, 0], [0, 1], [1, 1])
    gallery = unit([0.9, 0.1], [0.2, 1], [1, 0.8])
    # q0 -> g0 (id a: right), q1 -> g1 (id b: right), q2 -> g2 (id z, query id c: wrong)
    assert csr.retrieval_hits(q, ["a", "b", "c"], gallery, ["a", "b", "z"]) == (2, 2)  # "c" absent
    assert csr.retrieval_hits(q, ["a", "b", "z"], gallery, ["a", "b", "z"]) == (3, 3)
    assert csr.retrieval_top1(q, ["b", "a", "z"], gallery, ["a", "b", "z"]) == pytest.approx(1 / 3)
    edges = [(1, 2), (2, 1)]
    assert csr.retrieval_top1(q[:2], edges, gallery[:2], edges) == 1.0
    assert math.isnan(csr.retrieval_top1(q, ["x", "y", "w"], gallery, ["a", "b", "z"]))


def test_config_validation_names_the_key() -> None:
    from embodied.config import ConfigError

    cfg = csr.CSRTrainConfig.from_mapping({"data": ["d"], "steps": 10, "input_size": 64})
    assert cfg.steps == 10 and cfg.data == ["d"] and cfg.lr == 0.03 and cfg.key_momentum == 0.999
    with pytest.raises(ConfigError, match="models"):
        csr.CSRTrainConfig(models=["scene", "nope"])
    with pytest.raises(ConfigError, match="steps"):
        csr.CSRTrainConfig.from_mapping({"steps": 0})
    with pytest.raises(ConfigError):
        csr.CSRTrainConfig.from_mapping({"stepz": 3})


def test_queued_keys_of_the_query_own_object_are_not_negatives() -> None:
    """The queue remembers whose keys it holds; a query's own node is masked out of its negatives
    (with a small dataset the queue holds several keys of most objects)."""
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = q.clone()
    queue = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    same_queue = torch.tensor([[True, False, False], [False, False, False]])
    logits = csr.moco_logits(q, k, queue, 0.5, same_queue=same_queue)
    assert logits[0, 1] == float("-inf") and logits[1, 2] == pytest.approx(2.0)
    assert logits[0, 3] == pytest.approx(1.2) and logits[0, 0] == pytest.approx(2.0)
    torch.manual_seed(0)
    m = csr.MoCo(EncoderConfig(input_size=32, width=4, emb_dim=8), heads=("node",), queue_size=4)
    x = torch.randn(2, 5, 32, 32)
    m(x, x, torch.tensor([True, True]), [("h", 1), ("h", 2)])
    codes = m.identity_codes([("h", 1), ("h", 2), ("h", 3)])
    assert codes.tolist() == [0, 1, 2]
    assert m.qid_node.tolist() == [0, 1, -1, -1]
    m(x, x, torch.tensor([True, True]), [("h", 3), ("h", 1)])
    assert m.qid_node.tolist() == [0, 1, 2, 0]
