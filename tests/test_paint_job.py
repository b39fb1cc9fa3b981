"""`embodied patch CONFIG` (PAINT + soups) on a tiny config, and its data split and scoring."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embodied.cli import main
from embodied.config import ConfigError
from embodied.training.clip_data import Pair
from embodied.training.paint_job import TaskScorer, load_job_config, split_by_categories

TINY = """\
data_dir: {root}/data
render:      {{split: train, houses: "0:6", views_per_house: 4, size: 48, seed: 0}}
val_render:  {{split: val,   houses: "0:5", views_per_house: 6, size: 48, seed: 1}}
test_render: {{split: test,  houses: "0:5", views_per_house: 6, size: 48, seed: 2}}
model: tiny-vit
patch_categories: [Laptop, Bowl, Mug]
base:     {{steps: 6, batch_size: 8, lr: 1.0e-3, warmup_steps: 1}}
finetune: {{steps: 4, batch_size: 8, lr: 1.0e-3, warmup_steps: 1}}
soup_lrs: [3.0e-3]
soup_seeds: [1]
alphas: [0.0, 0.5, 1.0]
max_supported_drop: 0.05
threads: 1
output: {root}/out
"""


def _pair(caption: str, category: str | None, kind: str) -> Pair:
    return Pair(np.zeros((4, 4, 3), np.uint8), caption, category, 0, kind)


def test_split_leaves_out_every_name_of_a_patch_category():
    pairs = [
        _pair("a red baseball bat on the floor.", "BaseballBat", "crop"),
        _pair("a photo of a vase.", "Vase", "crop"),
        _pair("a kitchen with a mug and a bat.", None, "frame"),       # "bat": a BaseballBat synonym
        _pair("a bathroom with a bathtub.", None, "frame"),            # "bat" only inside words
        _pair("a bedroom with a Flower Vase.", None, "frame"),         # case-insensitive
        _pair("a mug next to a bowl.", "Mug", "crop"),
    ]
    supported, patch = split_by_categories(pairs, ["BaseballBat", "Vase"])
    assert [p.caption for p in supported] == ["a bathroom with a bathtub.", "a mug next to a bowl."]
    assert [p.category for p in patch] == ["BaseballBat", "Vase"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("paint_job")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY.format(root=root))
    rc = main(["patch", str(cfg)])
    return root, cfg, rc


def test_patch_job_report(job):
    root, _, rc = job
    assert rc == 0
    report = json.loads((root / "out" / "paint.json").read_text())
    for name in ("base.pt", "finetuned.pt", "soup_ingredient_1.pt", "patched.pt", "greedy_soup.pt",
                 "alpha_curve.png"):
        assert (root / "out" / name).is_file(), name
    curve = {p["alpha"]: p for p in report["alpha_curve"]}
    assert sorted(curve) == [0.0, 0.5, 1.0] and report["alpha"] in curve
    res = report["results"]
    base_sel, ft_sel = res["base"]["selection"], res["fine-tuned"]["selection"]
    # the curve's ends are the base and the fine-tuned model
    assert curve[0.0]["patch"] == pytest.approx(base_sel["patch"])
    assert curve[1.0]["supported"] == pytest.approx(ft_sel["supported"])
    # the chosen alpha keeps the supported task within the budget of the base (on selection data)
    assert curve[report["alpha"]]["supported"] >= base_sel["supported"] - 0.05 - 1e-9
    # greedy soup: never below its best ingredient on the held-out selection data
    greedy = next(v for k, v in res.items() if k.startswith("greedy soup ("))["selection"]
    best = max(i["selection_mean"] for i in report["soup"]["ingredients"])
    assert 0.5 * (greedy["patch"] + greedy["supported"]) >= best - 1e-9
    for r in res.values():
        for split in ("selection", "test"):
            assert all(0.0 <= r[split][k] <= 1.0 for k in ("patch", "supported", "all"))


def test_resumed_run_reuses_stages_and_matches(job, capsys):
    root, cfg, _ = job
    before = json.loads((root / "out" / "paint.json").read_text())["results"]
    capsys.readouterr()
    assert main(["patch", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.count("reusing") == 3 and "rendering" not in out
    assert json.loads((root / "out" / "paint.json").read_text())["results"] == before
    # a changed fine-tune retrains it (and only it: the base is reused)
    assert main(["patch", str(cfg), "finetune.steps=2"]) == 0
    out = capsys.readouterr().out
    assert "base: reusing" in out and "finetuned: reusing" not in out


def test_task_scorer_all_matches_clip_eval(job):
    """The 12-way column equals `embodied eval clip`'s zero-shot top-1 on the same crops."""
    import torch

    from embodied.perception.patching import load_state_dict
    from embodied.training.clip_train import _create, evaluate_clip
    from embodied.training.clip_data import load_pairs

    root, _, _ = job
    pairs = load_pairs(root / "data" / "paint_test")
    model, tok = _create("tiny-vit", 0)
    state = {k: v.float() for k, v in load_state_dict(root / "out" / "base.pt").items()}
    scores = TaskScorer(model, tok, pairs, ["Laptop", "Bowl", "Mug"]).scores(state)
    model.load_state_dict(state)
    with torch.no_grad():
        assert scores["all"] == pytest.approx(evaluate_clip(model, tok, pairs)["zero_shot_top1"])


@pytest.mark.parametrize("override, key", [
    ("patch_categories=[Sofa]", "patch_categories"),
    ("test_render.split=val", "test_render.houses"),
    ("soup_lrs=[0.1,0.2]", "soup_lrs"),
    ("base_checkpoint=/no/such.pt", "base_checkpoint"),
])
def test_bad_config_names_the_key(tmp_path, override, key):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY.format(root=tmp_path))
    with pytest.raises(ConfigError) as err:
        load_job_config(cfg, [override])
    assert key in str(err.value)


def test_classifier_finetune_trains_only_the_image_encoder(job):
    """PAINT's fine-tune (finetune_mode: classifier, the default): the text tower and logit_scale
    are the base's, bit for bit; the image encoder moved."""
    import torch

    from embodied.perception.patching import load_state_dict

    root, _, _ = job
    base = load_state_dict(root / "out" / "base.pt")
    tuned = load_state_dict(root / "out" / "finetuned.pt")
    visual = [k for k in base if k.startswith("visual.")]
    text = [k for k in base if not k.startswith("visual.")]
    assert visual and text and "logit_scale" in text and "token_embedding.weight" in text
    assert all(torch.equal(base[k], tuned[k]) for k in text)
    assert any(not torch.equal(base[k], tuned[k]) for k in visual)
