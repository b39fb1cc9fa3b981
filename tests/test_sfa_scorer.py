"""SfA's learned interaction scorer (`embodied.agents.sfa_scorer`): features on a real view,
save/load round trip, fitting a separable problem, and the shipped weights on a val object."""
from __future__ import annotations

import math

import numpy as np
import pytest

from embodied.agents.sfa import SfaAgent, SfaConfig
from embodied.agents.sfa_scorer import (FEATURES, InteractionScorer, candidate_features,
                                        first_candidates)
from embodied.envs.articulation import ArticulationConfig, ArticulationEnv, split_episodes

#: the val object whose first view the shipped weights are checked on: a cabinet with one door,
#: whose 3 largest face cells (the ranking without a scorer) all lie on the fixed carcass.
VAL_INDEX = 2


@pytest.fixture(scope="module")
def env():
    env = ArticulationEnv(ArticulationConfig(split="val", cameras=1))
    yield env
    env.close()


@pytest.fixture(scope="module")
def view(env):
    """(obs, cloud, cameras, candidates) of the chosen val object's first observation, ranked
    by the agent with the shipped weights."""
    episode = split_episodes("val", VAL_INDEX + 1)[VAL_INDEX]
    return first_candidates(env, SfaAgent(SfaConfig(scorer="learned")), episode)


def test_features_have_the_declared_width_and_are_finite(view) -> None:
    _, cloud, cameras, cands = view
    X = candidate_features(cloud, cameras, cands)
    assert X.shape == (len(cands.index), len(FEATURES)) and len(cands.index) > 3
    assert np.all(np.isfinite(X))
    height = X[:, FEATURES.index("height")]
    assert height.min() >= 0.0 and height.max() <= 1.0


def test_fit_separates_a_separable_problem() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, len(FEATURES))) * rng.uniform(0.1, 10.0, len(FEATURES))
    y = (X @ rng.normal(size=len(FEATURES)) > 0).astype(float)
    for hidden in (0, 8):
        scorer = InteractionScorer(hidden=hidden, steps=600, lr=0.05).fit(X, y)
        assert np.mean((scorer.predict_proba(X) > 0.5) == (y > 0.5)) > 0.95


def test_save_load_round_trip_gives_identical_scores(view, tmp_path) -> None:
    _, cloud, cameras, cands = view
    X = candidate_features(cloud, cameras, cands)
    y = (X[:, FEATURES.index("height")] > 0.5).astype(float)
    scorer = InteractionScorer(hidden=4, steps=50).fit(X, y)
    again = InteractionScorer.load(scorer.save(tmp_path / "w.npz"))
    np.testing.assert_array_equal(again.score(cloud, cameras, cands),
                                  scorer.score(cloud, cameras, cands))
    with pytest.raises(FileNotFoundError, match="train_sfa_scorer.py"):
        InteractionScorer.load(tmp_path / "missing.npz")


def test_shipped_weights_rank_a_movable_part_among_the_first_faces(env, view) -> None:
    obs, cloud, cameras, cands = view
    scores = InteractionScorer.load().score(cloud, cameras, cands)
    assert scores.shape == (len(cands.index),) and np.all(np.isfinite(scores))
    # ground truth, for this check only: the link each cloud row shows (-1: the fixed base)
    link = env.point_links(obs)
    faces = cands.index[~cands.handle]
    assert np.any(np.isin(link[faces[:3]], env.movable)), link[faces]


def test_features_of_a_hand_made_cloud() -> None:
    """Four corner points seen by a camera 2 m away along -x: every geometric feature by hand.

    Cloud centre (0, 0, 0.5); the horizontal view ray is +x (camera -> centre), the sideways axis
    +y. Point 0 is at the front (x = -0.5, nearest the camera), on the left (y = -0.4), at the
    bottom; point 2 is 1 m further back, on the same side, at the top."""
    from embodied.agents.sfa import Candidates
    from embodied.agents.sfa_scorer import CAP

    cloud = np.array([[-0.5, -0.4, 0.0], [-0.5, 0.4, 1.0], [0.5, -0.4, 1.0], [0.5, 0.4, 0.0]])
    cameras = np.array([[-2.0, 0.0, 1.0]])
    cands = Candidates(index=np.array([0, 2]), handle=np.array([True, False]),
                       direction=np.zeros((2, 3)), support=np.array([5, 0]),
                       normals=np.array([[-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [1.0, 0.0, 0.0]]),
                       offsets=np.array([0.002, 0.0, -0.001, 0.0]), view_cos=np.array([0.9, 0.5, 0.3, 0.1]))
    X = candidate_features(cloud, cameras, cands)
    f = {name: X[:, k] for k, name in enumerate(FEATURES)}
    np.testing.assert_allclose(f["height"], [0.0, 1.0])                # z 0 and 1 of 0..1
    np.testing.assert_allclose(f["radial"], [1.0, 1.0])                # every corner is as far out
    np.testing.assert_allclose(f["lateral"], [1.0, 1.0])               # |y| = 0.4 of 0.4, left side too
    np.testing.assert_allclose(f["front_depth"], [0.0, 1.0])           # m behind the front-most point
    np.testing.assert_allclose(f["view_cos"], [0.9, 0.3])
    np.testing.assert_allclose(f["normal_z"], [0.0, 0.8])
    np.testing.assert_allclose(f["offset_mm"], [2.0, -1.0])
    np.testing.assert_allclose(f["log_support"], [math.log(5.0), 0.0])   # support < 1 counts as 1
    np.testing.assert_allclose(f["handle_dist"], [0.0, CAP])           # point 0 is the handle; 1.41 m capped
    np.testing.assert_allclose(f["handles"], [math.log(2.0)] * 2)      # log(1 + 1 handle)
