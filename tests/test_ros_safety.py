"""The robot's safety rules (no ROS needed): clamping, stale streams, overruns, the e-stop latch,
over thousands of random command/arrival sequences."""
from __future__ import annotations

import math

import numpy as np
import pytest

from embodied.config import ConfigError
from embodied.ros.safety import SafetyLimits, Watchdog, clamp


def test_clamp_bounds_every_command() -> None:
    lim = SafetyLimits(max_linear=0.3, max_angular=1.0)
    assert clamp(0.1, -0.5, lim) == (0.1, -0.5)
    assert clamp(5.0, -9.0, lim) == (0.3, -1.0)
    assert clamp(float("nan"), float("inf"), lim) == (0.0, 0.0)
    rng = np.random.default_rng(0)
    for v, w in rng.normal(0, 3, (5000, 2)):
        a, b = clamp(v, w, lim)
        assert abs(a) <= 0.3 and abs(b) <= 1.0
        assert (a == v) == (abs(v) <= 0.3) and math.copysign(1, a) == math.copysign(1, v)


def test_stale_streams_fire_and_stay_fired_for_the_motion() -> None:
    dog = Watchdog(SafetyLimits(max_sensor_age=0.5))
    assert "never received" in dog.check(0.0)              # nothing received yet: not safe to move
    for s in ("rgb", "depth", "odom"):
        dog.seen(s, 10.0)
    dog.start_motion(10.0)
    assert dog.check(10.4) is None
    dog.seen("rgb", 10.45)
    dog.seen("odom", 10.45)
    reason = dog.check(10.55)                               # depth last seen at 10.0: 0.55 s old
    assert reason is not None and "depth 0.55 s old" in reason and "rgb" not in reason
    dog.seen("depth", 10.6)
    assert dog.check(10.61) == reason                        # latched for this motion
    dog.start_motion(10.7)
    assert dog.check(10.71) is None                          # a new motion starts clean


def test_overrun_and_estop() -> None:
    dog = Watchdog(SafetyLimits(action_timeout=2.0), streams=("odom",))
    dog.seen("odom", 0.0)
    dog.start_motion(0.0)
    for t in np.arange(0.0, 2.0, 0.1):
        dog.seen("odom", t)
        assert dog.check(t) is None
    dog.seen("odom", 2.05)
    assert "timeout of 2.0 s" in dog.check(2.05)
    dog.start_motion(3.0)
    dog.seen("odom", 3.0)
    dog.estop(False)
    assert dog.check(3.0) is None
    dog.estop(True)
    dog.estop(False)                                         # a released button does not un-latch
    assert dog.check(3.1) == "e-stop engaged"
    dog.reset_estop()
    dog.start_motion(3.2)
    assert dog.check(3.2) is None


def test_random_arrivals_match_a_direct_rule() -> None:
    """Over random arrival times the watchdog fires exactly when some stream is older than the
    limit or the deadline passed (checked against a direct computation)."""
    rng = np.random.default_rng(1)
    for trial in range(300):
        lim = SafetyLimits(max_sensor_age=float(rng.uniform(0.1, 1.0)), action_timeout=float(rng.uniform(0.5, 3)))
        dog = Watchdog(lim)
        last = {s: 0.0 for s in dog.streams}
        for s in dog.streams:
            dog.seen(s, 0.0)
        dog.start_motion(0.0)
        t, fired = 0.0, None
        for _ in range(40):
            t += float(rng.uniform(0.0, 0.3))
            for s in dog.streams:
                if rng.random() < 0.7:
                    dog.seen(s, t)
                    last[s] = t
            expect = fired or (any(t - v > lim.max_sensor_age for v in last.values()) or t > lim.action_timeout)
            got = dog.check(t)
            assert (got is not None) == bool(expect), (trial, t)
            fired = fired or expect


def test_limits_validate() -> None:
    with pytest.raises(ConfigError, match="max_sensor_age"):
        SafetyLimits(max_sensor_age=0)
