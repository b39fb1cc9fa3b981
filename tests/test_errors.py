"""Bad input fails before any episode with exit code 2 and one line naming the key or file.

Each test here was a traceback (exit 1), a silent success or a run into nonsense before the check
it covers: an unwritable `run.output`, a corrupt summary.json, out-of-range env/agent/run settings,
a user URDF without a movable joint or with a missing mesh, and the wording of unknown keys.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from embodied.cli import main
from embodied.config import ConfigError, load_config
from embodied.envs.articulation import mesh_candidates
from embodied.preflight import check_output
from tests.conftest import REPO, cli_env, records

OBJECTNAV = REPO / "experiments" / "objectnav_random.yaml"
SFA = REPO / "experiments" / "sfa_pybullet.yaml"


def cli_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """Run the CLI in-process, assert exit 2 with one line on stderr, return that line."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err[len("error: "):].strip()


def config_error(path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    assert "\n" not in str(info.value)
    return str(info.value)


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file of a folder with its inode, mtime and size: any rewrite (even atomic) changes it."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------ run.output
def test_output_under_proc_is_refused(toy_yaml: Path, capsys: pytest.CaptureFixture) -> None:
    msg = cli_error(capsys, "run", str(toy_yaml), "run.output=/proc/embodied_run")
    assert msg.startswith("run.output: got '/proc/embodied_run', which is under /proc")
    assert "expected a folder on disk" in msg


def test_output_that_is_a_file_or_below_one_is_refused(toy_yaml: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    msg = cli_error(capsys, "run", str(toy_yaml), f"run.output={afile}")
    assert msg == (f"run.output: got {str(afile)!r}, which is a file, not a folder; expected a folder "
                   "(created if missing)")
    msg = cli_error(capsys, "run", str(toy_yaml), f"run.output={afile / 'sub' / 'dir'}")
    assert msg.startswith(f"run.output: got {str(afile / 'sub' / 'dir')!r}, but {str(afile)!r} is a file")
    assert afile.read_text() == "not a folder"


def test_check_output_creates_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    check_output(out)
    assert out.is_dir() and list(out.iterdir()) == []  # the write probe is removed


def _ro_command(folder: Path) -> list[str]:
    """A command prefix that runs the rest with `folder` mounted read-only (private mount namespace)."""
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(folder)]


@pytest.fixture(scope="module")
def read_only_mounts(tmp_path_factory: pytest.TempPathFactory) -> bool:
    """Whether this machine lets the tests make a truly read-only folder with a bind mount.

    Why a mount and not chmod: the tests run as root, and root writes into a 0555 folder anyway.
    A read-only bind mount in a private mount namespace refuses root too, and is undone when the
    command ends. Where mounts are not permitted, a non-root user falls back to chmod.
    """
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path_factory.mktemp("ro_probe")
    done = subprocess.run(_ro_command(probe) + ["sh", "-c", 'touch "$0/x"', str(probe)],
                          capture_output=True, text=True, timeout=30)
    return done.returncode != 0 and "Read-only file system" in done.stderr and not (probe / "x").exists()


@pytest.fixture
def run_read_only(read_only_mounts: bool) -> Iterator:
    """`run_read_only(folder, *cli_args)`: the CLI in a fresh interpreter, `folder` read-only."""
    chmodded: list[tuple[Path, int]] = []

    def run(folder: Path, *args: str) -> subprocess.CompletedProcess:
        cli = [sys.executable, "-m", "embodied.cli", *args]
        if read_only_mounts:
            cmd = _ro_command(folder) + cli
        elif os.geteuid() != 0:
            chmodded.append((folder, folder.stat().st_mode))
            folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
            cmd = cli
        else:
            pytest.skip("cannot make a read-only folder here: root, and unshare/mount are not permitted")
        return subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)

    yield run
    for folder, mode in chmodded:
        folder.chmod(mode)


def test_a_finished_run_in_a_read_only_folder_shows_and_reruns(toy_yaml: Path, run_read_only) -> None:
    out = toy_yaml.parent / "out"
    assert main(["run", str(toy_yaml)]) == 0
    before = snapshot(out)
    shown = run_read_only(out, "show", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "12 episodes, 0 failed" in shown.stdout
    rerun = run_read_only(out, "run", str(toy_yaml))
    assert rerun.returncode == 0, rerun.stderr
    assert "all 12 episodes already done" in rerun.stdout and rerun.stderr == ""
    assert snapshot(out) == before


def test_an_unfinished_run_in_a_read_only_folder_is_a_config_error(toy_yaml: Path, run_read_only) -> None:
    out = toy_yaml.parent / "out"
    assert main(["run", str(toy_yaml)]) == 0
    log = out / "episodes.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:5]))  # 7 episodes left to run
    done = run_read_only(out, "run", str(toy_yaml))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: run.output: got {str(out)!r}, which is not writable here")
    assert "expected a folder this user can write" in done.stderr
    assert len(records(out)) == 5


def test_a_new_run_below_a_read_only_folder_is_a_config_error(toy_yaml: Path, tmp_path: Path,
                                                             run_read_only) -> None:
    parent = tmp_path / "readonly"
    parent.mkdir()
    done = run_read_only(parent, "run", str(toy_yaml), f"run.output={parent / 'run'}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: run.output: got {str(parent / 'run')!r}, which is not writable")
    assert not (parent / "run").exists()


def test_rerunning_a_finished_run_writes_nothing(toy_yaml: Path, capsys: pytest.CaptureFixture) -> None:
    out = toy_yaml.parent / "out"
    assert main(["run", str(toy_yaml)]) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert main(["run", str(toy_yaml), "run.workers=2"]) == 0  # a setting that may change on resume
    assert "all 12 episodes already done" in capsys.readouterr().out
    assert snapshot(out) == before


def test_config_yaml_is_written_only_when_missing_or_different(toy_yaml: Path) -> None:
    out = toy_yaml.parent / "out"
    assert main(["run", str(toy_yaml)]) == 0
    log = out / "episodes.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:5]))
    config_before = snapshot(out)["config.yaml"]
    assert main(["run", str(toy_yaml)]) == 0  # resumes 7 episodes: same config, not rewritten
    assert len(records(out)) == 12 and snapshot(out)["config.yaml"] == config_before
    (out / "config.yaml").unlink()
    (out / "summary.json").unlink()
    assert main(["run", str(toy_yaml)]) == 0  # finished, but config.yaml and summary.json are missing
    assert load_config(out / "config.yaml") == load_config(toy_yaml)
    assert json.loads((out / "summary.json").read_text())["episodes"] == 12


# ------------------------------------------------------------------------------ summary.json
def test_show_rebuilds_a_corrupt_summary_from_the_episodes(toy_yaml: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    out = toy_yaml.parent / "out"
    assert main(["run", str(toy_yaml)]) == 0
    (out / "summary.json").write_text('{"episodes": 12, "fai')  # cut short
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr()
    assert shown.err.startswith(f"warning: {out / 'summary.json'} is not valid JSON")
    assert "12 episodes, 0 failed (rebuilt from episodes.jsonl" in shown.out
    # a rerun repairs it: the run is finished but its summary is not the records' summary
    assert main(["run", str(toy_yaml)]) == 0
    assert json.loads((out / "summary.json").read_text())["episodes"] == 12


@pytest.mark.parametrize("text", ['{"episodes": 3, "fai', "[1, 2]", '{"metrics": 5}', "\xff\xfe"])
def test_show_names_a_corrupt_summary_without_episodes(tmp_path: Path, text: str,
                                                       capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "summary.json").write_bytes(text.encode("latin-1"))
    msg = cli_error(capsys, "show", str(tmp_path))
    assert msg.startswith(f"RUN_DIR: {tmp_path / 'summary.json'} is not ")
    assert "there is no" in msg and "episodes.jsonl" in msg


# ------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("override, expected", [
    ("env.success_distance=0", "env.success_distance: got 0.0, expected metres > 0.18"),
    ("env.success_distance=-1", "env.success_distance: got -1.0, expected metres > 0.18"),
    ("env.success_distance=0.18", "env.success_distance: got 0.18, expected metres > 0.18"),
    ("env.step_size=-0.25", "env.step_size: got -0.25, expected metres > 0"),
    ("env.step_size=0", "env.step_size: got 0.0, expected metres > 0"),
    ("env.min_visible_pixels=-3", "env.min_visible_pixels: got -3, expected a pixel count in [1, 50176]"),
    ("env.min_visible_pixels=0", "env.min_visible_pixels: got 0, expected a pixel count in [1, 50176]"),
    ("env.rotate_degrees=0", "env.rotate_degrees: got 0.0, expected degrees in (0, 180]"),
    ("env.look_degrees=-30", "env.look_degrees: got -30.0, expected degrees in (0, 90]"),
    ("env.width=0", "env.width: got 0, expected a positive integer"),
    ("env.renderer=vulkan", "env.renderer: got 'vulkan', expected one of auto, tiny, egl, raycast"),
    ("run.device=banana", "run.device: expected cpu, cuda, cuda:N (N = 0, 1, ...) or mps, got 'banana'"),
    ("run.device=cuda:x", "run.device: expected cpu, cuda, cuda:N"),
    ("agent.stop_probability=2", "agent.stop_probability: got 2.0, expected a probability"),
])
def test_objectnav_and_run_settings_are_range_checked(override: str, expected: str) -> None:
    assert config_error(OBJECTNAV, override).startswith(expected)


@pytest.mark.parametrize("experiment, override, key", [
    ("objectnav_oracle.yaml", "agent.merge_distance=0", "agent.merge_distance"),
    ("objectnav_oracle.yaml", "agent.resolution=-0.025", "agent.resolution"),
    ("objectnav_oracle.yaml", "agent.max_goal_attempts=0", "agent.max_goal_attempts"),
    ("cow_pybullet.yaml", "agent.min_target_pixels=0", "agent.min_target_pixels"),
    ("cow_pybullet.yaml", "agent.target_max_depth=-4", "agent.target_max_depth"),
    ("cow_pybullet.yaml", "agent.drop_radius=-0.5", "agent.drop_radius"),
    ("cow_pybullet.yaml", "agent.map.stride=0", "agent.map.stride"),  # was clamped to 1 silently
    ("cow_pybullet.yaml", "agent.map.max_depth=0", "agent.map.max_depth"),
    ("cow_pybullet.yaml", "agent.map.ceiling=0.01", "agent.map.ceiling"),
    ("sfa_pybullet.yaml", "agent.normal_neighbors=2", "agent.normal_neighbors"),
    ("sfa_pybullet.yaml", "agent.patience=0", "agent.patience"),
    ("sfa_pybullet.yaml", "agent.icp_iterations=0", "agent.icp_iterations"),
    ("sfa_pybullet.yaml", "agent.refine_pulls=-1", "agent.refine_pulls"),
    ("sfa_pybullet.yaml", "agent.handle_offset=0", "agent.handle_offset"),
    ("sfa_pybullet.yaml", "env.max_force=0", "env.max_force"),
])
def test_agent_and_env_settings_are_range_checked(experiment: str, override: str, key: str) -> None:
    msg = config_error(REPO / "experiments" / experiment, override)
    assert msg.startswith(f"{key}: got ") and "expected" in msg


def test_range_errors_exit_2_before_any_episode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    for override in ("env.success_distance=0", "env.step_size=-0.25", "env.min_visible_pixels=-3",
                     "run.device=banana"):
        msg = cli_error(capsys, "run", str(OBJECTNAV), override, f"run.output={out}")
        assert msg.startswith(override.split("=")[0] + ": ")
    assert not out.exists()


def test_a_device_this_machine_lacks_is_refused(toy_yaml: Path, capsys: pytest.CaptureFixture) -> None:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    msg = cli_error(capsys, "run", str(toy_yaml), f"run.device=cuda:{count}")
    assert msg.startswith(f"run.device: got 'cuda:{count}', which this machine does not have; expected ")
    assert not (toy_yaml.parent / "out").exists()
    if count == 0:
        assert cli_error(capsys, "run", str(toy_yaml), "run.device=cuda").endswith(
            "expected cpu (torch sees no CUDA device here)")
    else:
        assert main(["run", str(toy_yaml), "run.device=cuda:0"]) == 0


# ------------------------------------------------------------------------------ user URDFs
_INERTIAL = ('<inertial><mass value="1"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" '
             'izz="0.01"/></inertial>')


def _urdf(path: Path, base_geometry: str = '<box size="0.4 0.4 0.4"/>', joint: str | None = None) -> Path:
    """A one- or two-link URDF; `joint` is the <joint> element to the door link (None: no door)."""
    door = "" if joint is None else (
        f'<link name="door">{_INERTIAL}<visual><geometry><box size="0.02 0.4 0.4"/></geometry></visual>'
        f'<collision><geometry><box size="0.02 0.4 0.4"/></geometry></collision></link>{joint}')
    path.write_text(
        f'<?xml version="1.0"?><robot name="{path.stem}"><link name="base">{_INERTIAL}'
        f'<visual><geometry>{base_geometry}</geometry></visual>'
        f'<collision><geometry><box size="0.4 0.4 0.4"/></geometry></collision></link>{door}</robot>')
    return path


def _joint(jtype: str, lower: float = 0.0, upper: float = 1.5) -> str:
    limit = (f'<limit lower="{lower}" upper="{upper}" effort="10" velocity="1"/>'
             if jtype in ("revolute", "prismatic") else "")
    axis = '<axis xyz="0 0 1"/>' if jtype != "fixed" else ""
    return (f'<joint name="hinge" type="{jtype}"><parent link="base"/><child link="door"/>'
            f'<origin xyz="0.21 0 0"/>{axis}{limit}</joint>')


CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for x in (-0.2, 0.2) for y in (-0.2, 0.2) for z in (-0.2, 0.2)) + \
    "f 1 2 4 3\nf 5 7 8 6\nf 1 5 6 2\nf 3 4 8 7\nf 1 3 7 5\nf 2 6 8 4\n"


@pytest.mark.parametrize("joint, expected", [
    (None, "no movable joint (it has no <joint>)"),
    (_joint("fixed"), "no movable joint (its joints: 'hinge' fixed)"),
    (_joint("revolute", 0.0, 0.0), "no movable joint (its joints: 'hinge' revolute with lower = upper = 0)"),
])
def test_a_urdf_without_a_movable_joint_is_refused(tmp_path: Path, joint: str | None, expected: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    path = _urdf(tmp_path / "rigid.urdf", joint=joint)
    msg = cli_error(capsys, "run", str(SFA), f"env.objects=[{path}]", f"run.output={tmp_path / 'out'}")
    assert msg.startswith(f"env.objects[0]: {path}: {expected}; expected at least one revolute or prismatic")
    assert not (tmp_path / "out").exists()  # never a score for an object with nothing to find


@pytest.mark.parametrize("jtype", ["revolute", "prismatic", "continuous"])
def test_a_urdf_with_a_movable_joint_is_accepted(tmp_path: Path, jtype: str) -> None:
    path = _urdf(tmp_path / "door.urdf", joint=_joint(jtype))
    assert load_config(SFA, [f"env.objects=[{path}]"]).env.objects == [str(path)]


def test_a_missing_mesh_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _urdf(tmp_path / "meshy.urdf", '<mesh filename="meshes/body.obj"/>', _joint("revolute"))
    msg = cli_error(capsys, "run", str(SFA), f"env.objects=[{path}]", f"run.output={tmp_path / 'out'}")
    assert msg == (f"env.objects[0]: {path}: link 'base' <visual> mesh 'meshes/body.obj' not found; "
                   f"expected it relative to {tmp_path} (or a folder above it, or absolute)")
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "body.obj").write_text(CUBE_OBJ)
    assert load_config(SFA, [f"env.objects=[{path}]"]).env.objects == [str(path)]  # pybullet loads it


def test_package_uris_resolve_like_pybullet(tmp_path: Path) -> None:
    """`package://pkg/meshes/x.obj` with the URDF in pkg/urdf/: found from the folder above pkg."""
    pkg = tmp_path / "pkg"
    (pkg / "urdf").mkdir(parents=True)
    (pkg / "meshes").mkdir()
    (pkg / "meshes" / "body.obj").write_text(CUBE_OBJ)
    path = _urdf(pkg / "urdf" / "door.urdf", '<mesh filename="package://pkg/meshes/body.obj"/>',
                 _joint("revolute"))
    assert (tmp_path / "pkg" / "meshes" / "body.obj") in mesh_candidates(path, "package://pkg/meshes/body.obj")
    assert load_config(SFA, [f"env.objects=[{path}]"]).env.objects == [str(path)]
    missing = _urdf(pkg / "urdf" / "gone.urdf", '<mesh filename="package://pkg/meshes/gone.obj"/>',
                    _joint("revolute"))
    assert "mesh 'package://pkg/meshes/gone.obj' not found" in config_error(SFA, f"env.objects=[{missing}]")


def test_a_mesh_type_pybullet_cannot_read_is_named(tmp_path: Path) -> None:
    (tmp_path / "body.ply").write_text("ply\n")
    path = _urdf(tmp_path / "ply.urdf", '<mesh filename="body.ply"/>', _joint("revolute"))
    msg = config_error(SFA, f"env.objects=[{path}]")
    assert msg.startswith(f"env.objects[0]: {path}: link 'base' <visual> mesh 'body.ply': pybullet reads only")


# ------------------------------------------------------------------------------ wording
def test_unknown_key_without_a_close_match_reads_as_one_sentence() -> None:
    assert config_error(OBJECTNAV, "agent.localizer=x") == \
        "agent.localizer: unknown key; valid keys for RandomConfig (agent 'random'): id, stop_probability"
    assert config_error(OBJECTNAV, "agent.stop_probabilty=1") == (
        "agent.stop_probabilty: unknown key; did you mean 'stop_probability'? Valid keys for RandomConfig "
        "(agent 'random'): id, stop_probability")
    msg = config_error(OBJECTNAV, "agent.id=zzzz")
    assert msg.startswith("agent.id: unknown agent id 'zzzz'; registered agents: ")
