"""`embodied eval localization`: the AUROC by hand, the CLI end to end, config errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embodied.cli import main
from embodied.evaluation.localization import auroc


def test_auroc_hand_computed() -> None:
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    # all tied: every pos/neg pair counts 1/2
    assert auroc([0.5, 0.5, 0.5], [1, 0, 0]) == 0.5
    # pairs (pos, neg): (0.5 vs 0.1)=1, (0.5 vs 0.5)=.5, (0.9 vs 0.1)=1, (0.9 vs 0.5)=1 -> 3.5/4
    assert auroc([0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(0.875)
    # one misordered pair out of 2 x 2: 3/4
    assert auroc(np.array([[0.3, 0.6], [0.4, 0.9]]), np.array([[0, 0], [1, 1]])) == pytest.approx(0.75)
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))
    assert math.isnan(auroc([0.1, 0.2], [0, 0]))


def _write(tmp_path, body: str):
    path = tmp_path / "loc.yaml"
    path.write_text(body)
    return str(path)


CONFIG = """\
frames: 6
per_episode: 6
width: 64
height: 64
min_pixels: 4
localizers:
  - id: ground_truth
  - {id: clip_grad, model: tiny-vit, pretrained: null}
"""


def test_cli_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["eval", "localization", _write(tmp_path, CONFIG), f"output={out}"])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "localization_eval.json").read_text())
    assert report["frames"]["total"] == 6
    assert report["frames"]["goal_visible"] >= 1
    gt, clip = report["localizers"]
    assert gt["id"] == "ground_truth" and clip["id"] == "clip_grad"
    # the ground truth is the ground truth: perfect on every metric defined for it
    assert gt["metrics"]["precision"] == 1.0
    assert gt["metrics"]["recall"] == 1.0
    assert gt["metrics"]["auroc"] == 1.0
    assert gt["metrics"]["category_top1"] is None  # NaN: not a CLIP localizer
    counts = gt["metrics"]["counts"]
    assert counts["tp"] == report["frames"]["goal_visible"] and counts["fp"] == 0
    negatives = report["frames"]["total"] - report["frames"]["goal_visible"]
    assert gt["metrics"]["fpr"] == (0.0 if negatives else None)
    c = clip["metrics"]["counts"]
    if c["fp"] + c["tn"]:                       # FPR by hand from the counts
        assert clip["metrics"]["fpr"] == c["fp"] / (c["fp"] + c["tn"])
    assert c["tn"] + c["fp"] == negatives and c["tp"] + c["fn"] == report["frames"]["goal_visible"]
    assert clip["model"] == "tiny-vit (random)" and gt["model"] == "" and clip["settings"] == ""
    for key in ("precision", "recall", "fpr", "auroc", "category_top1"):
        value = clip["metrics"][key]
        assert value is None or 0.0 <= value <= 1.0, (key, value)
    assert clip["metrics"]["counts"]["crops"] >= 1
    printed = capsys.readouterr().out
    assert "ground_truth" in printed and "ours" in printed


def test_bad_key_exit_2(tmp_path, capsys) -> None:
    rc = main(["eval", "localization", _write(tmp_path, CONFIG + "framez: 3\n")])
    assert rc == 2
    assert "framez" in capsys.readouterr().err
    rc = main(["eval", "localization", _write(tmp_path, CONFIG), "localizers.0.thresh=0.2"])
    # a list item is not addressable by a dotted override; a nested bad key in the YAML is
    assert rc == 2
    bad = CONFIG.replace("  - id: ground_truth", "  - {id: ground_truth, treshold: 0.5}")
    rc = main(["eval", "localization", _write(tmp_path, bad)])
    assert rc == 2
    assert "localizers[0].treshold" in capsys.readouterr().err


def test_train_refused(tmp_path, capsys) -> None:
    assert main(["train", "localization", _write(tmp_path, CONFIG)]) == 2
    assert "nothing to train" in capsys.readouterr().err
