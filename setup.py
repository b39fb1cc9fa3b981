"""Installable package `embodied` with the `embodied` console script.

Lower bounds only; the versions the tests ran with (Debian 12, Python 3.11) are in docs/setup.md.
torch/torchvision are pinned by scripts/setup.sh (2.14.1 / 0.29.1) because those lie on local disk.
"""
from setuptools import find_packages, setup

setup(
    name="embodied",
    version="0.1.0",
    description="Embodied-AI research framework: CoW, CSR and SfA on Gymnasium-wrapped simulators",
    packages=find_packages(include=["embodied", "embodied.*"]),
    package_data={"embodied.perception.localization": ["model_configs/*.json"],
                  "embodied.agents": ["sfa_scorer.npz"],
                  "embodied.ros": ["*.xml"],
                  "embodied": ["models/csr/*.pt", "models/clip/*.pt"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "shapely>=2.0",         # exact shortest paths (SPL's l) over polygonal free space
        "gymnasium>=1.0",
        "pybullet>=3.2.6",
        "pyyaml>=6.0",
        "rich>=13.0",
        "matplotlib>=3.8",
        "imageio>=2.34",
        "imageio-ffmpeg>=0.5",
        "psutil>=5.9",
        "torch>=2.1",
        "torchvision>=0.16",
        "open_clip_torch>=3.0",
        "open3d>=0.18",
        "torch-geometric>=2.5",
    ],
    extras_require={
        # transformers: the owlvit localizer tests; mutmut: `make mutation` (scripts/mutation_report.py
        # reads mutmut 3's mutants/*.meta files and its status codes)
        "dev": ["pytest>=8.0", "transformers>=4.40", "mutmut>=3.8.1,<4"],
        "thor": ["ai2thor>=5.0"],
        "ray": ["ray>=2.50,<3"],
        "owlvit": ["transformers>=4.40"],
        # ROS 2 from PyPI wheels (no apt, no sourcing); rmw_fastrtps is what rclpy loads by default
        "ros": ["ros-rclpy", "ros-rmw-fastrtps-cpp", "ros-sensor-msgs", "ros-geometry-msgs",
                "ros-nav-msgs", "ros-std-msgs", "rosbags>=0.10.10"],
    },
    entry_points={"console_scripts": ["embodied=embodied.cli:main"]},
)
