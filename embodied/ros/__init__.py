"""ROS 2 bridge (in progress, issue 13): a robot as a Gymnasium env, the embedded world as a ROS 2
robot, and deployment of any agent. rclpy comes from PyPI wheels (`pip install -e .[ros]` once
the extra lands); nothing here imports rclpy at package import time.

`loopback.configure(domain_id)` must run before `rclpy.init()`: it points Fast DDS at the shipped
loopback-only profile and sets a private `ROS_DOMAIN_ID`, so tests and `ros-sim` never send a
packet off 127.0.0.0/8.
"""
