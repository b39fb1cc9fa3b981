"""`embodied train csr` / `embodied eval csr` (embodied/training/csr_job.py) end to end on a tiny job,
plus the pieces of its evaluation that a tiny job cannot pin down (scoring, pairing by episode).

Rendering happens once per module (2 train episodes, 1 val episode, 8 steps at 64 px): the
fixtures below share it, and tests that change the data work on copies.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from embodied.cli import main
from embodied.perception.csr_encoder import CSREncoder, EncoderConfig, load_encoder
from embodied.training import csr, csr_job
from embodied.training.csr import Frame, Trajectory, load_dataset

METRIC_KEYS = ["timestep_node_top1", "timestep_edge_top1", "phase_node_top1", "phase_edge_top1",
               "moved_precision_csr", "moved_recall_csr", "moved_precision_paper", "moved_recall_paper"]


def tiny_job(root: Path) -> dict[str, Any]:
    return {
        "name": "tiny",
        "data_dir": str(root / "data"),
        "render": {
            "train": {"split": "train", "episodes": "0:4:2", "steps": 8, "size": 64, "keep_size": 48, "seed": 0},
            "val": {"split": "val", "episodes": "0:1", "steps": 8, "size": 64, "keep_size": 48, "seed": 1},
        },
        "train": {"output": str(root / "models"), "input_size": 48, "width": 8, "emb_dim": 32, "steps": 5,
                  "batch_size": 8, "scene_queue_size": 64, "object_queue_size": 64, "pair_group": 2,
                  "threads": 1, "log_every": 5, "eval_pairs": 10,
                  "min_box_frac": 0.003},             # 64 px renders: small boxes, few positives
        "eval": {"output": str(root / "eval"), "pairs": 20},
    }


def run_cli(*argv: str) -> tuple[int, str, str]:
    """main() with stdout/stderr captured (usable from module-scoped fixtures, unlike capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("csr_job")
    job = tiny_job(root)
    config = root / "job.yaml"
    config.write_text(yaml.safe_dump(job, sort_keys=False))
    code, out, err = run_cli("train", "csr", str(config))
    return SimpleNamespace(root=root, job=job, config=config, code=code, out=out, err=err,
                           data=root / "data", models=root / "models")


# ------------------------------------------------------------------------------------ train
def test_train_renders_both_folders_and_writes_both_checkpoints(trained: SimpleNamespace) -> None:
    assert trained.code == 0, trained.err
    for name in ("csr_scene.pt", "csr_object.pt", "csr_train.json"):
        assert (trained.models / name).is_file()
    assert str(trained.models / "csr_scene.pt") in trained.out      # says where the checkpoints went
    scene = load_encoder(trained.models / "csr_scene.pt")
    assert (scene.config.width, scene.config.emb_dim, scene.config.input_size) == (8, 32, 48)
    report = json.loads((trained.models / "csr_train.json").read_text())
    assert report["config"]["data"] == [str(trained.data / "train")]
    assert report["config"]["val_data"] == [str(trained.data / "val")]
    assert report["models"]["scene"]["summary"]["steps_done"] == 5

    for role, episodes in (("train", ["0", "2"]), ("val", ["0"])):
        marker = json.loads((trained.data / role / csr_job.MARKER).read_text())
        assert sorted(marker["episodes"]) == episodes
        assert marker["key"]["spec"]["episodes"] == trained.job["render"][role]["episodes"]
        assert marker["key"]["trajectory_format"] == csr.TRAJECTORY_FORMAT
        assert len(list((trained.data / role).glob("*.npz"))) == 2 * len(episodes)   # two phases each


def test_stored_frames_keep_depth_and_matching_intrinsics(trained: SimpleNamespace) -> None:
    """keep_size shrinks frames, depth and intrinsics together (the graphs place objects in 3-D)."""
    val = load_dataset(trained.data / "val")
    assert sorted(t.phase for t in val) == ["unshuffle", "walkthrough"]
    assert len({t.meta["episode_id"] for t in val}) == 1 and val[0].meta["changed_instances"]
    for traj in val:
        assert len(traj.frames) == 9
        assert traj.camera["width"] == traj.camera["height"] == 48
        assert traj.camera["fx"] == pytest.approx(32.0 * 48 / 64)
        assert traj.camera["cx"] == pytest.approx(23.5)                  # (48 - 1) / 2
        for frame in traj.frames:
            assert frame.shape == (48, 48) and frame.depth is not None and frame.depth.shape == (48, 48)
            assert np.all(frame.boxes[:, 2:] <= 48)


def test_second_train_run_reuses_the_rendered_data(trained: SimpleNamespace) -> None:
    before = {role: mtimes(trained.data / role) for role in ("train", "val")}
    code, out, err = run_cli("train", "csr", str(trained.config), "train.steps=1", "train.models=[scene]",
                             f"train.output={trained.root / 'models_again'}")
    assert code == 0, err
    assert "rendering" not in out and out.count("is up to date") == 2
    assert {role: mtimes(trained.data / role) for role in ("train", "val")} == before
    assert (trained.root / "models_again" / "csr_scene.pt").is_file()


def test_changed_spec_rerenders_and_a_lost_episode_is_rendered_alone(trained: SimpleNamespace,
                                                                     tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(trained.data, data)
    cfg = csr_job.load_job_config(trained.config, [f"data_dir={data}"])
    logs: list[str] = []

    files = sorted((data / "train").glob("*.npz"))
    lost = files[0]
    episode = lost.name.rsplit("_", 1)[0]                             # <split>_<episode id>
    others = {p.name: p.stat().st_mtime_ns for p in files if not p.name.startswith(episode + "_")}
    assert len(others) == 2
    lost.unlink()
    csr_job.ensure_rendered(cfg.render.train, data / "train", logs.append)
    assert any("rendering 1 train episodes" in line and "1 already there" in line for line in logs)
    assert lost.is_file()
    assert {name: (data / "train" / name).stat().st_mtime_ns for name in others} == others

    changed = csr_job.load_job_config(trained.config, [f"data_dir={data}", "render.val.steps=3"])
    old = {p.name: p.stat().st_mtime_ns for p in (data / "val").glob("*.npz")}
    csr_job.ensure_rendered(changed.render.val, data / "val", logs.append)
    marker = json.loads((data / "val" / csr_job.MARKER).read_text())
    assert marker["key"]["spec"]["steps"] == 3
    val = load_dataset(data / "val")
    assert len(val) == 2 and all(len(t.frames) == 4 for t in val)
    assert all((data / "val" / name).stat().st_mtime_ns != t for name, t in old.items())


# ------------------------------------------------------------------------------------- eval
def test_eval_scores_trained_and_untrained_encoders(trained: SimpleNamespace) -> None:
    code, out, err = run_cli("eval", "csr", str(trained.config))
    assert code == 0, err
    report = json.loads((trained.root / "eval" / "csr_eval.json").read_text())
    assert set(report["models"]) == {"trained", "untrained"}
    for model, metrics in report["models"].items():
        assert list(metrics) == METRIC_KEYS
        for key, value in metrics.items():
            assert math.isnan(value) or 0.0 <= value <= 1.0, (model, key, value)
        counts = report["counts"][model]
        assert counts["timesteps"]["node_queries"] > 0 and counts["timesteps"]["edge_queries"] > 0
        assert counts["phases"]["frame_pairs"] == counts["phase_edges"]["frame_pairs"] > 0
        for rule in ("csr", "paper"):
            moved = counts["moved"][rule]
            assert moved["episodes"] == 1
            assert moved["changed"] == len(load_dataset(trained.data / "val")[0].meta["changed_instances"])
            assert metrics[f"moved_recall_{rule}"] == pytest.approx(moved["true_positives"] / moved["changed"])
    assert report["trajectories"] == 2 and report["episodes"] == 1
    assert "across timesteps" in out                                   # the table was printed
    assert str(trained.root / "eval" / "csr_eval.json") in out


def test_eval_table_has_a_row_per_model_and_shows_nan_as_n_a() -> None:
    from rich.console import Console

    metrics = {k: 0.25 for k in METRIC_KEYS}
    report = {"title": "t", "rules": ["csr", "paper"],
              "models": {"trained": metrics, "untrained": {**metrics, "phase_edge_top1": float("nan")}}}
    buf = io.StringIO()
    csr_job.print_eval_table(report, Console(file=buf, width=400, force_terminal=False))
    rows = [line.split("│")[1:-1] for line in buf.getvalue().splitlines() if line.startswith("│ ")]
    body = {r[0].strip(): [c.strip() for c in r[1:]] for r in rows if r[0].strip() in report["models"]}
    assert list(body) == ["trained", "untrained"]
    assert body["trained"] == ["0.250"] * 8
    assert body["untrained"][3] == "n/a" and body["untrained"].count("0.250") == 7


def test_untrained_baseline_is_the_same_architecture_seeded(trained: SimpleNamespace) -> None:
    scene = load_encoder(trained.models / "csr_scene.pt")
    a, b = csr_job.untrained_like(scene, 3), csr_job.untrained_like(scene, 3)
    assert a.config == scene.config
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.state_dict()["backbone.conv1.weight"], scene.state_dict()["backbone.conv1.weight"])


# ----------------------------------------------------------------------------------- errors
def cli_error(*argv: str) -> str:
    code, _, err = run_cli(*argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_unknown_system_lists_the_known_ones(trained: SimpleNamespace) -> None:
    for command in ("train", "eval"):
        err = cli_error(command, "foo", str(trained.config))
        assert "'foo'" in err and "csr" in err


@pytest.mark.parametrize("override, expected", [
    ("render.train.episodes=0-4", "render.train.episodes"),
    ("render.val.episodes=0:1000", "render.val.episodes"),
    ("render.val.split=train", "render.val.episodes"),       # val rooms 0.. would be training rooms
    ("train.data=[elsewhere]", "train.data"),
    ("eval.pairs=0", "eval.pairs"),
    ("train.stepz=3", "train.stepz"),
])
def test_bad_keys_and_values_name_the_key(trained: SimpleNamespace, override: str, expected: str) -> None:
    assert f"error: {expected}:" in cli_error("train", "csr", str(trained.config), override)


def test_unquoted_episode_range_in_yaml_is_explained(tmp_path: Path) -> None:
    job = tiny_job(tmp_path)
    job["render"]["val"]["episodes"] = "EPISODES"
    text = yaml.safe_dump(job, sort_keys=False).replace("EPISODES", "1:20")   # unquoted, as a user types it
    config = tmp_path / "job.yaml"
    config.write_text(text)
    err = cli_error("train", "csr", str(config))
    assert "render.val.episodes" in err and "quoted" in err


def test_eval_without_checkpoints_says_to_train_first(trained: SimpleNamespace, tmp_path: Path) -> None:
    err = cli_error("eval", "csr", str(trained.config), f"eval.checkpoints={tmp_path}")
    assert str(tmp_path / "csr_scene.pt") in err and "embodied train csr" in err
    err = cli_error("eval", "csr", str(trained.config), f"train.output={tmp_path / 'none'}")
    assert "train.output" in err and str(tmp_path / "none" / "csr_scene.pt") in err


# --------------------------------------------------------------------------- scoring pieces
def test_nodes_take_the_instance_most_of_their_detections_had() -> None:
    frames = [([0, 1, -1], [7, 8, 9]), ([0, 1], [7, 5]), ([1, 0], [5, 3]), ([2], [4]), ([2], [6])]
    assert csr_job.node_instances(frames) == {0: 7, 1: 5, 2: 4}     # -1: skipped; tie 4/6 -> 4


def test_predicted_instances_use_the_walkthrough_node_else_the_unshuffle_node() -> None:
    changes = [SimpleNamespace(walk_node=0, unshuffle_node=5), SimpleNamespace(walk_node=None, unshuffle_node=1),
               SimpleNamespace(walk_node=None, unshuffle_node=None)]
    assert csr_job.predicted_instances(changes, {0: 10, 1: 11}, {1: 12, 5: 13}) == {10, 12}


def _box_trajectory(episode: str, phase: str, instances: list[int], changed: list[int]) -> Trajectory:
    """Frames whose box i sits in its own 10-px column: the stand-in builder below reads identity
    from the box, as a perfect tracker would."""
    frames = []
    for _ in range(2):
        boxes = [(10 * i, 0, 10 * i + 10, 10) for i in instances]
        frames.append(Frame(np.zeros((40, 80, 3), np.uint8), boxes, instances, ["Apple"] * len(instances)))
    return Trajectory(frames, house_seed=1, phase=phase, trajectory_id=f"{episode}_{phase}",
                      meta={"episode_id": episode, "changed_instances": changed})


class BoxBuilder:
    """Stand-in GraphBuilder: a node per distinct box (the real one embeds; here identity is given)."""

    def __init__(self, scene: Any, obj: Any, intrinsics: Any, max_edges: int = 16) -> None:
        self.graph = SimpleNamespace(nodes={})

    def add_frame(self, rgb: Any, boxes: Any, categories: Any, depth: Any = None, pose: Any = None) -> list[int]:
        nodes = self.graph.nodes
        return [nodes.setdefault(tuple(int(v) for v in b), len(nodes)) for b in np.asarray(boxes)]


def test_moved_object_scores_are_micro_averaged_over_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Episode a: predicted {1, 2}, changed {1}; episode b: predicted {}, changed {3, 4}.
    Micro: precision 1/2, recall 1/3 (a per-episode mean would give recall 1/2, precision 1)."""
    import embodied.perception.csr_tracking as tracking
    import embodied.perception.rearrange_changes as changes_mod

    def detect(walk: Any, unshuffle: Any, rule: str = "csr") -> list[Any]:
        node_of = {b[0] // 10: n for b, n in walk.nodes.items()}      # instance -> walk node
        if rule == "paper" or 3 in node_of:
            return []
        return [SimpleNamespace(walk_node=node_of[1], unshuffle_node=None),
                SimpleNamespace(walk_node=node_of[2], unshuffle_node=0)]

    monkeypatch.setattr(tracking, "GraphBuilder", BoxBuilder)
    monkeypatch.setattr(changes_mod, "detect_changes", detect)
    trajs = [_box_trajectory("a", p, [0, 1, 2], [1]) for p in ("walkthrough", "unshuffle")]
    trajs += [_box_trajectory("b", p, [3, 4, 5], [3, 4]) for p in ("walkthrough", "unshuffle")]
    trajs.append(_box_trajectory("c", "walkthrough", [1], [1]))       # no unshuffle phase: not scored
    out = csr_job.moved_object_detection(None, None, trajs, ("csr", "paper"), min_box_frac=0.0)
    assert out["csr"]["episodes"] == 2
    assert (out["csr"]["true_positives"], out["csr"]["predicted"], out["csr"]["changed"]) == (1, 2, 3)
    assert out["csr"]["precision"] == pytest.approx(0.5) and out["csr"]["recall"] == pytest.approx(1 / 3)
    assert math.isnan(out["paper"]["precision"]) and out["paper"]["recall"] == 0.0


# ---------------------------------------------------------------------- csr.py job helpers
def _pattern_trajectory(episode: str | None, house: int, phase: str, order: list[int]) -> Trajectory:
    """Two frames of the same four patterned objects; ``order`` permutes the detections."""
    rng = np.random.default_rng(0)
    rgb = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    boxes = np.array([(0, 0, 12, 12), (16, 0, 30, 14), (0, 16, 14, 32), (18, 18, 32, 30)])[order]
    frames = [Frame(rgb, boxes, np.array([1, 2, 3, 4])[order], ["a"] * 4) for _ in range(2)]
    meta = {} if episode is None else {"episode_id": episode}
    return Trajectory(frames, house_seed=house, phase=phase, meta=meta)


def test_cross_phase_pairs_stay_within_an_episode_of_a_room() -> None:
    trajs = [_pattern_trajectory(ep, 7, ph, [0, 1, 2, 3]) for ep in ("e1", "e2") for ph in ("w", "u")]
    valid = [[{1, 2, 3, 4}] * 2 for _ in trajs]
    pairs = csr._frame_pairs(trajs, valid, "object")
    assert {(a, b) for (a, _), (b, _) in pairs} == {(0, 1), (1, 0), (2, 3), (3, 2)}
    for t in trajs:
        t.meta.clear()                                                # no episode ids: by house
    pairs = csr._frame_pairs(trajs, valid, "object")
    assert {(a, b) for (a, _), (b, _) in pairs} == {(a, b) for a in range(4) for b in range(4) if a != b}


def test_edge_retrieval_across_phases_follows_instance_ids_not_detection_order() -> None:
    """The same frame in both phases, detections listed in another order: any fixed encoder embeds
    each ordered pair identically in both, so every edge retrieves itself iff ids follow boxes."""
    torch.manual_seed(0)
    encoder = CSREncoder(EncoderConfig(input_size=32, width=4, emb_dim=16)).eval()
    trajs = [_pattern_trajectory("e", 1, "walkthrough", [0, 1, 2, 3]),
             _pattern_trajectory("e", 1, "unshuffle", [2, 0, 3, 1])]
    out = csr.evaluate_edge_retrieval_across_phases(encoder, trajs, max_pairs=100, min_box_frac=0.0)
    assert out["frame_pairs"] == 8 and out["edge_queries"] == 8 * 12
    assert out["edge_top1"] == 1.0
    nodes = csr.evaluate_retrieval(encoder, trajs, "object", max_pairs=100, min_box_frac=0.0)
    assert nodes["frame_pairs"] == out["frame_pairs"]
