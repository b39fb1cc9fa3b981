"""ObjectNavEnv.drive: continuous motion for velocity-commanded robots (embodied ros-sim)."""
from __future__ import annotations

import pytest


def test_continuous_drive_obeys_the_collision_rule() -> None:
    """`drive` (what ros-sim integrates cmd_vel with): small steps add up to a MoveAhead, a blocked
    step leaves the pose unchanged, nothing ends inside geometry, steps are not counted."""
    import math

    import numpy as np

    from embodied.envs import objectnav_episodes as eps
    from embodied.envs.objectnav import ObjectNavConfig, ObjectNavEnv

    env = ObjectNavEnv(ObjectNavConfig(split="val"))
    env.reset(options={"episode": eps.split_episode("val", 0)})
    start, yaw = env.position.copy(), env.yaw
    assert env.drive(0.0, math.radians(30)) and math.isclose(
        math.remainder(env.yaw - yaw - math.radians(30), 2 * math.pi), 0.0, abs_tol=1e-9)
    blocked = 0
    for _ in range(400):                       # 0.05 m at a time, until walls have refused some
        before = env.position.copy()
        if not env.drive(0.05, 0.0):
            blocked += 1
            assert np.array_equal(env.position, before)
            env.drive(0.0, math.radians(45))
        assert env.scene.min_distance(env.position) >= -1e-6
    assert blocked > 0 and env.steps == 0
    assert env.path_length == pytest.approx(0.05 * (400 - blocked), rel=1e-6)
    assert float(np.hypot(*(env.position - start))) > 0.0
    env.close()
