"""The in-sim CLIP model-size study (in the spirit of CoW's backbone ablation): 3 sizes -> how well
each localizes (`embodied eval localization`) and how CoW navigates with it (Success/SPL).

    .venv/bin/python scripts/clip_size_study.py [--sizes embodied-vit-xxs embodied-vit-xs embodied-vit-s]
                                                [--main experiments/cow_pybullet.yaml] [--out runs/clip_size_study]

Every size is trained by `experiments/clip_train.yaml` with only `model` changed (same data, steps,
seed); the shipped `embodied/models/clip/embodied-vit-s.pt` is that run for embodied-vit-s and is
reused (`--retrain-shipped` trains it again). Checkpoints of the others go to `<out>/<model>/`
and are reused when present. The localizer is the main job's (`agent.localizer` of `--main`) with
`model` and `pretrained` swapped; the CoW runs are the main job's 50 val episodes. Prints one
table and writes `<out>/size_study.json`.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SHIPPED = Path("embodied/models/clip")


def checkpoint(model: str, out: Path, retrain_shipped: bool) -> Path:
    """The model's checkpoint: shipped (embodied-vit-s), already trained here, or trained now."""
    from embodied.training import clip_train

    shipped = SHIPPED / f"{model}.pt"
    if shipped.is_file() and not retrain_shipped:
        return shipped
    target = out / model
    path = target / f"{model}.pt"
    if not path.is_file():
        cfg = clip_train.load_job_config("experiments/clip_train.yaml", [f"model={model}", f"output={target}"])
        clip_train.train_job(cfg)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["embodied-vit-xxs", "embodied-vit-xs", "embodied-vit-s"])
    parser.add_argument("--main", default="experiments/cow_pybullet.yaml")
    parser.add_argument("--loc", default="experiments/localization_eval.yaml")
    parser.add_argument("--out", default="runs/clip_size_study")
    parser.add_argument("--retrain-shipped", action="store_true")
    args = parser.parse_args(argv)

    import open_clip

    from embodied.config import load_config, to_dict
    from embodied.evaluation import localization
    from embodied.perception.localization.clip_model import register_model_configs
    from embodied.runner import run_experiment

    register_model_configs()
    out = Path(args.out)
    main_cfg = load_config(args.main)
    loc_raw = to_dict(main_cfg.agent.localizer)
    rows = []
    for model in args.sizes:
        t0 = time.perf_counter()
        path = checkpoint(model, out, args.retrain_shipped)
        params = sum(p.numel() for p in open_clip.create_model(model).visual.parameters())
        overrides = [f"agent.localizer.model={model}", f"agent.localizer.pretrained={path}"]
        loc_cfg = localization.load_job_config(args.loc, [f"output={out / model / 'localization'}"])
        loc_cfg.localizers = [type(main_cfg.agent.localizer)(**{**loc_raw, "model": model, "pretrained": str(path)})]
        loc = localization.eval_job(loc_cfg)["localizers"][0]["metrics"]
        run_cfg = load_config(args.main, overrides + [f"run.output={out / model / 'cow'}"])
        summary = run_experiment(run_cfg)
        overall = summary["metrics"]
        rows.append({"model": model, "visual_parameters": params, "checkpoint": str(path),
                     "localization": loc, "success": overall["success"], "spl": overall["spl"],
                     "seconds": round(time.perf_counter() - t0, 1)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "size_study.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    print(f"{'model':<18}{'visual params':>14}{'precision':>10}{'recall':>8}{'FPR':>7}{'AUROC':>7}"
          f"{'top-1':>7}{'Success':>9}{'SPL':>7}")
    for r in rows:
        m = r["localization"]
        print(f"{r['model']:<18}{r['visual_parameters'] / 1e6:>12.2f} M{m['precision']:>10.3f}{m['recall']:>8.3f}"
              f"{m['fpr']:>7.3f}{m['auroc']:>7.3f}{m['category_top1']:>7.3f}{r['success']:>9.3f}{r['spl']:>7.3f}")
    print(f"wrote {out / 'size_study.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
