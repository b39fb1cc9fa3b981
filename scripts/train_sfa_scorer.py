"""Train SfA's interaction scorer (``embodied.agents.sfa_scorer``) on the procedural train split.

For each train object: the heuristic agent's candidates on the first view, then up to
``--pulls-per-object`` random face candidates (not handles), each pulled 0.12 m along its
direction from the object's start state; the label is whether a movable link moved. With
``--top-view DEG``, the same again from the view the agent takes before lifting a top face
(the env's view action, elevation DEG). The last
20% of the objects are held out for the printed accuracy / ROC AUC. CPU only, a few minutes:

    python scripts/train_sfa_scorer.py --out embodied/agents/sfa_scorer.npz
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from embodied.agents.sfa import SfaAgent, SfaConfig, valid_cloud
from embodied.agents.sfa_scorer import FEATURES, InteractionScorer, candidate_features
from embodied.envs.articulation import ArticulationConfig, ArticulationEnv, split_episodes

PULL_DISTANCE = 0.12


def collect(episodes: list[dict], pulls: int, seed: int,
            views: tuple[tuple[float, float, float] | None, ...] = (None,)
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per object and view, (features, labels) of up to ``pulls`` random face candidates.

    ``views``: None is the env's own camera; a tuple is a view action (azimuth, elevation,
    distance scale) taken first, as the agent takes one before lifting a top face.
    """
    env = ArticulationEnv(ArticulationConfig(split="train", cameras=1), privileged=True)   # labels: the grabbed link
    agent = SfaAgent(SfaConfig())
    rng = np.random.default_rng(seed)
    out = []

    def start(episode: dict, view: tuple[float, float, float] | None) -> dict:
        obs, _ = env.reset(seed=0, options={"episode": episode})   # back to the start state
        if view is not None:
            obs, *_ = env.step({"point": np.zeros(3), "direction": np.array([1.0, 0.0, 0.0]),
                                "distance": np.array([PULL_DISTANCE]), "view": np.array(view)})
        return obs

    try:
        for episode in episodes:
            for view in views:
                agent.reset({"episode_id": episode["episode_id"]})
                obs = start(episode, view)
                cloud = valid_cloud(obs)
                cameras = np.asarray(obs["extrinsics"], dtype=float)[:, :3, 3]
                cands = agent.candidates(cloud, cameras)
                faces = np.flatnonzero(~cands.handle) if cands is not None else np.zeros(0, int)
                if len(faces) == 0:
                    continue
                chosen = rng.choice(faces, size=min(pulls, len(faces)), replace=False)
                labels = []
                for k in chosen:
                    start(episode, view)
                    *_, info = env.step({"point": cloud[cands.index[k]], "direction": cands.direction[k],
                                         "distance": np.array([PULL_DISTANCE])})
                    labels.append(bool(info["moved"]) and info["link"] not in ("base", None))
                out.append((candidate_features(cloud, cameras, cands.take(chosen)),
                            np.array(labels, dtype=float)))
    finally:
        env.close()
    return out


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN with one class only."""
    y = np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.bincount(inv.reshape(-1), weights=ranks)
    ranks = (sums / counts)[inv.reshape(-1)]                         # average rank of ties
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def report(name: str, scorer: InteractionScorer, X: np.ndarray, y: np.ndarray) -> None:
    s = scorer.decision(X)
    acc = float(np.mean((s > 0) == (y > 0.5)))
    print(f"{name:9s} n={len(y):5d}  positive rate {y.mean():.3f}  accuracy {acc:.3f}  "
          f"(majority {max(y.mean(), 1 - y.mean()):.3f})  ROC AUC {roc_auc(y, s):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=1000, help="train-split objects (max 1000)")
    ap.add_argument("--pulls-per-object", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=16, help="MLP hidden units (0: logistic)")
    ap.add_argument("--top-view", type=float, default=None, metavar="DEG",
                    help="also collect pulls seen from this elevation (the agent's view before "
                         "lifting a top face; 65): the view action's data")
    ap.add_argument("--out", default="embodied/agents/sfa_scorer.npz")
    args = ap.parse_args()
    start = time.time()
    views = (None,) if args.top_view is None else (None, (0.0, args.top_view, 1.0))
    data = collect(split_episodes("train", args.objects), args.pulls_per_object, args.seed, views)
    cut = int(round(0.8 * len(data)))
    stack = lambda part: tuple(np.concatenate(a) for a in zip(*part))   # noqa: E731
    (Xtr, ytr), (Xte, yte) = stack(data[:cut]), stack(data[cut:])
    print(f"collected {len(ytr) + len(yte)} pulls on {len(data)} objects in "
          f"{time.time() - start:.0f} s; features: {', '.join(FEATURES)}")
    scorer = InteractionScorer(hidden=args.hidden, seed=args.seed).fit(Xtr, ytr)
    report("train", scorer, Xtr, ytr)
    report("held-out", scorer, Xte, yte)
    # the shipped weights learn from every object
    final = InteractionScorer(hidden=args.hidden, seed=args.seed).fit(np.concatenate([Xtr, Xte]),
                                                                      np.concatenate([ytr, yte]))
    print(f"saved {final.save(args.out)}; total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
