"""`embodied train clip` / `embodied eval clip` on a tiny config (tiny-vit, 2 houses, 48 px)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from embodied.cli import main

TINY = """\
data_dir: {root}/data
render: {{split: train, houses: "0:2", views_per_house: 4, size: 48, seed: 0}}
val_render: {{split: val, houses: "0:2", views_per_house: 3, size: 48, seed: 1}}
model: tiny-vit
steps: 10
batch_size: 8
warmup_steps: 2
log_every: 5
output: {root}/out
eval: {{output: {root}/eval, pairs: 50}}
"""


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip_job")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY.format(root=root))
    rc = main(["train", "clip", str(cfg)])
    return root, cfg, rc


def test_train_writes_loadable_checkpoint(job):
    from embodied.perception.localization.clip_model import clear_cache, load_clip

    root, _, rc = job
    assert rc == 0
    path = root / "out" / "tiny-vit.pt"
    summary = json.loads((root / "out" / "clip_train.json").read_text())
    assert summary["steps"] == 10 and len(summary["losses"]) == 10
    assert summary["rendered"] == {"train": True, "val": True}
    assert all(0.0 <= summary["val"][k] <= 1.0 for k in ("zero_shot_top1", "i2t_r1", "t2i_r1"))
    clear_cache()
    clip = load_clip("tiny-vit", pretrained=str(path))
    state = torch.load(path, weights_only=True)
    for k, v in clip.model.state_dict().items():
        assert torch.equal(v, state[k].float()), k
    untrained = load_clip("tiny-vit", pretrained=None)
    assert not torch.equal(untrained.model.visual.conv1.weight, clip.model.visual.conv1.weight)
    # the ClipConfig route: an existing checkpoint file is accepted
    from embodied.perception.localization.base import ClipConfig
    assert ClipConfig(id="clip_grad", model="tiny-vit", pretrained=str(path)).pretrained == str(path)
    clear_cache()


def test_second_run_does_not_render(job, capsys):
    root, cfg, _ = job
    marker = root / "data" / "train" / "render.json"
    before = marker.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["train", "clip", str(cfg), "steps=2"]) == 0
    out = capsys.readouterr().out
    assert "rendering" not in out
    assert marker.stat().st_mtime_ns == before
    summary = json.loads((root / "out" / "clip_train.json").read_text())
    assert summary["rendered"] == {"train": False, "val": False} and summary["steps"] == 2
    # a changed spec renders again
    assert main(["train", "clip", str(cfg), "steps=1", "render.views_per_house=2"]) == 0
    assert "rendering train pairs" in capsys.readouterr().out


def test_eval(job, capsys):
    root, cfg, _ = job
    assert main(["eval", "clip", str(cfg)]) == 0
    report = json.loads((root / "eval" / "clip_eval.json").read_text())
    for label in ("trained", "untrained"):
        for k in ("zero_shot_top1", "i2t_r1", "t2i_r1"):
            assert 0.0 <= report[label][k] <= 1.0
    assert "untrained" in capsys.readouterr().out


def test_overfit_and_determinism(job):
    from embodied.training.clip_data import load_pairs
    from embodied.training.clip_train import _create, train_clip

    root, _, _ = job
    pairs = load_pairs(root / "data" / "train")[:8]
    assert len(pairs) >= 4
    runs = []
    for _ in range(2):
        model, tok = _create("tiny-vit", 0)
        r = train_clip(model, tok, pairs, steps=30, batch_size=8, lr=1e-3, warmup_steps=0, seed=3,
                       log=lambda s: None)
        runs.append(r["losses"])
    assert runs[0][-1] < 0.5 * runs[0][0]
    assert runs[0] == runs[1]


def test_bad_key_exits_2(job, capsys):
    _, cfg, _ = job
    assert main(["train", "clip", str(cfg), "bogus_key=1"]) == 2
    assert "bogus_key" in capsys.readouterr().err
    assert main(["train", "clip", str(cfg), "render.houses=0:900"]) == 2
    assert "render.houses" in capsys.readouterr().err
    assert main(["train", "clip", str(cfg), "model=no-such-model"]) == 2
    assert "model" in capsys.readouterr().err


def test_flip_caption():
    from embodied.training.clip_train import flip_caption
    assert flip_caption("a mug left of a bowl") == "a mug right of a bowl"
    assert flip_caption("a mug right of a bowl") == "a mug left of a bowl"


def test_shipped_model_config():
    import open_clip

    from embodied.perception.localization.clip_model import register_model_configs
    from embodied.training.clip_train import _create

    register_model_configs()
    assert "embodied-vit-s" in open_clip.list_models()
    model, tok = _create("embodied-vit-s", 0)
    n = sum(p.numel() for p in model.parameters())
    assert n * 2 < 25e6  # fp16 checkpoint under 25 MB
    assert getattr(model.visual, "pool_type", "tok") == "tok"
    assert tok(["a mug"]).shape == (1, 32)
    assert np.isfinite(n)


def test_keep_top_by_hand():
    from embodied.training.clip_data import Pair, keep_top

    pairs = [Pair(np.zeros((2, 2, 3), np.uint8), f"c{i}", None, 0, "frame") for i in range(4)]
    kept = keep_top(pairs, [0.1, 0.9, 0.5, 0.9], 0.5)
    assert [p.caption for p in kept] == ["c1", "c3"]           # top 2, ties by position, original order
    assert [p.caption for p in keep_top(pairs, [0.1, 0.9, 0.5, 0.9], 0.75)] == ["c1", "c2", "c3"]
    with pytest.raises(ValueError):
        keep_top(pairs, [1.0], 0.5)


def test_filter_by_a_bootstrap_checkpoint(job, tmp_path, capsys):
    root, cfg, _ = job
    boot = root / "out" / "tiny-vit.pt"
    out = tmp_path / "filtered"
    assert main(["train", "clip", str(cfg), "steps=1", f"output={out}", f"filter.checkpoint={boot}",
                 "filter.keep=0.5"]) == 0
    summary = json.loads((out / "clip_train.json").read_text())
    assert summary["pairs"]["train"] == round(0.5 * summary["pairs"]["rendered_train"])
    assert "filter: kept" in capsys.readouterr().out
    assert main(["train", "clip", str(cfg), "filter.keep=0"]) == 2
    assert "filter.keep" in capsys.readouterr().err
