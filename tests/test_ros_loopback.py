"""ROS 2 over loopback only: a real rclpy publisher and subscriber exchange a Twist in a fresh
process configured by `embodied.ros.loopback`, and that process binds no socket outside
127.0.0.0/8. Skips when rclpy is absent, unless EMBODIED_REQUIRE_ROS=1 (then it fails)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from embodied.ros import loopback

from tests.ros_robot import require_ros  # noqa: E402

require_ros("rclpy")

CHILD = textwrap.dedent("""
    import json, os, time
    import rclpy
    from geometry_msgs.msg import Twist
    from embodied.ros.loopback import non_loopback_sockets

    rclpy.init()
    node = rclpy.create_node("embodied_loopback_check")
    got = []
    node.create_subscription(Twist, "cmd_vel_check", lambda m: got.append(m.linear.x), 10)
    pub = node.create_publisher(Twist, "cmd_vel_check", 10)
    deadline = time.monotonic() + 10.0
    while not got and time.monotonic() < deadline:
        msg = Twist()
        msg.linear.x = 0.25
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.05)
    bad = non_loopback_sockets([os.getpid()])
    node.destroy_node()
    rclpy.shutdown()
    print(json.dumps({"got": got[:1], "bad": bad, "domain": os.environ["ROS_DOMAIN_ID"]}))
""")


def test_twist_round_trip_stays_on_loopback() -> None:
    domain = loopback.free_domain_id()
    proc = subprocess.run([sys.executable, "-c", CHILD], env=loopback.loopback_env(domain),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["got"] == [0.25]                       # the message flowed ...
    assert out["bad"] == []                           # ... with every socket on 127.0.0.0/8
    assert out["domain"] == str(domain)


def test_loopback_env_and_socket_check() -> None:
    env = loopback.loopback_env(7, base={"PATH": "/bin"})
    assert env["ROS_DOMAIN_ID"] == "7" and env["PATH"] == "/bin"
    assert loopback.PROFILE.is_file() and env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(loopback.PROFILE)
    assert "127.0.0.1" in loopback.PROFILE.read_text()
    with pytest.raises(ValueError, match="ROS_DOMAIN_ID"):
        loopback.loopback_env(0)
    assert loopback.free_domain_id(5) == 6 and 1 <= loopback.free_domain_id() <= 232
    # the checker: loopback and unbound sockets pass, every-interface and external addresses do not
    from collections import namedtuple

    Addr, Conn = namedtuple("Addr", "ip port"), namedtuple("Conn", "laddr type")
    conns = [Conn(Addr("127.0.0.1", 7400), "UDP"), Conn((), "UDP"), Conn(Addr("::1", 1), "TCP"),
             Conn(Addr("0.0.0.0", 52258), "UDP"), Conn(Addr("192.0.2.2", 37283), "UDP")]
    assert loopback.off_loopback(conns) == ["UDP 0.0.0.0:52258", "UDP 192.0.2.2:37283"]
    base = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}
    assert not set(base) & set(loopback.loopback_env(3, base=base))   # they override the profile
