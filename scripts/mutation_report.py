"""Mutation testing of the modules whose bugs corrupt results: run mutmut, print the score per module.

    python scripts/mutation_report.py run                     # every module (`make mutation`)
    python scripts/mutation_report.py run --module metrics    # one module (`make mutation-smoke`)
    python scripts/mutation_report.py report                  # the table of the last run again

What it measures: mutmut (configured in setup.cfg) plants one small bug at a time in the code (`<`
for `<=`, `a - b` for `a + b`, a constant off by one, a dropped argument, ...) and runs the tests that
call the mutated function. A mutant a test fails on is *killed* (so is one that makes the tests
hang past mutmut's limit or crash); one that every test passes *survived*: a bug of that shape
would go unnoticed. Surviving mutants are listed with the line they change; those judged
*equivalent* (the mutated code computes the same results as the original for every input it can
get, so no test can ever fail on it) are listed in EQUIVALENT below with the reason, and counted
apart, never as killed. Two scores per module: killed / all mutants, and the usual mutation score,
killed / (all - equivalent), which the module's target applies to.

Why a script around mutmut: mutmut prints one total; what matters is the score per module
against its target, and which mutants survived where. Each `run` starts from an empty mutants/
folder, so the score is that of this tree and these tests (mutmut's own cache could keep
verdicts across test edits). runner.py is scored on its resume/retry functions only
(RUNNER_FUNCTIONS), preflight.py on its resume checks (PREFLIGHT_FUNCTIONS): the rest of them
(output and device checks, worker plumbing) is tested elsewhere, much of it slowly, by spawning
processes.

Exit status of `run`: 1 when mutmut itself failed or the run cannot be trusted (a module without
mutants, mutants left unchecked, nothing killed at all: the tests do not reach the mutated code);
never because of a low score (use --check for that).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEP = "ǁ"  # mutmut's separator of class and method in mangled names


@dataclass(frozen=True)
class Module:
    """One mutated module: its file, the share of (non-equivalent) mutants its tests must kill, and,
    for runner.py and preflight.py, the functions that are in scope."""

    path: str
    target: float
    functions: tuple[str, ...] = ()   # empty: every function of the module

    @property
    def dotted(self) -> str:
        return self.path[:-3].replace("/", ".")

    def patterns(self) -> list[str]:
        """mutmut's mutant-name globs for this module's mutants in scope."""
        if not self.functions:
            return [f"{self.dotted}.*"]
        return [f"{self.dotted}.{mangle(f)}__mutmut_*" for f in self.functions]


def mangle(function: str) -> str:
    """`Class.method` -> mutmut's `xǁClassǁmethod`, `function` -> `x_function`."""
    cls, _, name = function.rpartition(".")
    return f"x{SEP}{cls}{SEP}{name}" if cls else f"x_{name}"


def unmangle(mangled: str) -> str:
    if mangled.startswith(f"x{SEP}"):
        cls, name = mangled[2:].split(SEP, 1)
        return f"{cls}.{name}"
    return mangled[2:]


#: The resume and retry paths of a run: what decides which episodes run, with which seed, how often,
#: and what a failed one records (runner.py), and whether a folder's earlier run may be resumed or
#: is already finished (preflight.py, the checks the runner calls before it starts).
RUNNER_FUNCTIONS = ("episode_seed", "failure_record", "EpisodeRunner.run", "EpisodeRunner._attempt",
                    "_run_serial", "_after_death", "run_experiment", "_run_in")
PREFLIGHT_FUNCTIONS = ("check_resumable", "finished_summary")

#: short name -> module. Targets from the issue: 90 % where a bug corrupts every reported number
#: (metrics, the run log, SfA scoring), 80 % elsewhere.
MODULES: dict[str, Module] = {
    "metrics": Module("embodied/metrics.py", 0.90),
    "results": Module("embodied/results.py", 0.90),
    "articulation_metrics": Module("embodied/envs/articulation_metrics.py", 0.90),
    "runner": Module("embodied/runner.py", 0.80, RUNNER_FUNCTIONS),
    "preflight": Module("embodied/preflight.py", 0.80, PREFLIGHT_FUNCTIONS),
    "navgrid": Module("embodied/perception/navgrid.py", 0.80),
    "frontier": Module("embodied/perception/frontier.py", 0.80),
}

#: Reasons shared by many equivalent mutants (see EQUIVALENT).
BIGGER_WINDOW = "the window only grows; every cell in it is still tested exactly, so the result is the same"
EMPTY_WINDOW = ("an empty window in either direction already yields nothing (empty slices): the condition "
                "only skips work")
FLOAT_OPERAND = "the other operand is float64, so the arithmetic is float64 whatever dtype this array gets"
FLOAT_USE = ("every use of the array converts to float64 itself (true division, np.linalg.norm, cKDTree, "
             "arithmetic with float coordinates), so the dtype asked for here never shows")
MINLENGTH = "every label 1..n occurs, so bincount already has n + 1 bins; an extra trailing bin is never read"
NEG_RESHAPE = "NumPy reads any negative size in reshape() as 'the rest', like -1"
PERF = "only the graph cache is affected: the same graph is rebuilt every time (slower, same distances)"

#: Surviving mutants judged equivalent, each read and argued one by one: name -> (the mutated line
#: as mutmut shows it, why no test can tell it from the original). The line guards against stale
#: entries: mutmut numbers mutants in order, so after an edit the same name can be another mutant;
#: it is then reported as not killed and unexplained, and has to be judged again.
def _same(reason: str, *entries: tuple[str, str]) -> dict[str, tuple[str, str]]:
    """EQUIVALENT entries sharing one reason: (name, mutated line) pairs -> {name: (line, reason)}."""
    return {name: (line, reason) for name, line in entries}


EQUIVALENT: dict[str, tuple[str, str]] = {
    **_same(FLOAT_USE + ' (corners are metres: only unsigned-integer corners could wrap)',
            ('embodied.metrics.x__box_frame__mutmut_3', 'c = np.asarray(corners, dtype=None)'),
            ('embodied.metrics.x__box_frame__mutmut_5', 'c = np.asarray(corners, )'),
            ),
    **_same('a length of exactly 1e-8 m is the only difference; coinciding corners (0) are refused either way',
            ('embodied.metrics.x__box_frame__mutmut_24', 'if np.any(lengths <= 1e-8):'),
            ),
    **_same(('the loops still meet the one mutually orthogonal triple (perhaps as a permutation: axes and '
             'lengths stay paired, so the box is the same) and the extra indices add no triple with a smaller '
             'error'),
            ('embodied.metrics.x__box_frame__mutmut_33', 'for i in range(8):'),
            ('embodied.metrics.x__box_frame__mutmut_36', 'for j in range(7):'),
            ('embodied.metrics.x__box_frame__mutmut_37', 'for j in range(i + 1, ):'),
            ('embodied.metrics.x__box_frame__mutmut_38', 'for j in range(i - 1, 7):'),
            ('embodied.metrics.x__box_frame__mutmut_40', 'for j in range(i + 1, 8):'),
            ('embodied.metrics.x__box_frame__mutmut_43', 'for k in range(7):'),
            ('embodied.metrics.x__box_frame__mutmut_44', 'for k in range(j + 1, ):'),
            ('embodied.metrics.x__box_frame__mutmut_45', 'for k in range(j - 1, 7):'),
            ),
    **_same(('a real box has exactly one triple with error ~0; <= only changes which of two equal errors is '
             'kept'),
            ('embodied.metrics.x__box_frame__mutmut_55', 'if err <= best_err:'),
            ),
    **_same('only an error of exactly 1e-3 differs',
            ('embodied.metrics.x__box_frame__mutmut_57', 'if best_err >= 1e-3:'),
            ),
    **_same(FLOAT_USE,
            ('embodied.metrics.x__point_set__mutmut_3', 'pts = np.asarray(points, dtype=None)'),
            ('embodied.metrics.x__point_set__mutmut_5', 'pts = np.asarray(points, )'),
            ('embodied.metrics.x__unit_axis__mutmut_4', 'a = np.asarray(axis, dtype=None).reshape(3)'),
            ('embodied.metrics.x__unit_axis__mutmut_6', 'a = np.asarray(axis, ).reshape(3)'),
            ('embodied.metrics.x_rotation_angle_deg__mutmut_4', 'a = np.asarray(q0, dtype=None).reshape(4)'),
            ('embodied.metrics.x_rotation_angle_deg__mutmut_6', 'a = np.asarray(q0, ).reshape(4)'),
            ('embodied.metrics.x_rotation_angle_deg__mutmut_11', 'b = np.asarray(q1, dtype=None).reshape(4)'),
            ('embodied.metrics.x_rotation_angle_deg__mutmut_13', 'b = np.asarray(q1, ).reshape(4)'),
            ('embodied.envs.articulation_metrics.x__points__mutmut_12',
             'arr = np.asarray(pts, dtype=None).reshape(-1, 3)'),
            ('embodied.envs.articulation_metrics.x__points__mutmut_14',
             'arr = np.asarray(pts, ).reshape(-1, 3)'),
            ('embodied.perception.navgrid.x_geodesic_distance__mutmut_4',
             'xy = np.asarray(xy, dtype=None).reshape(2)'),
            ('embodied.perception.navgrid.x_geodesic_distance__mutmut_6', 'xy = np.asarray(xy, ).reshape(2)'),
            ('embodied.perception.navgrid.x_geodesic_distance__mutmut_10',
             'field = np.asarray(field, dtype=None)'),
            ('embodied.perception.navgrid.x_geodesic_distance__mutmut_12', 'field = np.asarray(field, )'),
            ('embodied.perception.navgrid.x_nearest_free__mutmut_4',
             'xy = np.asarray(xy, dtype=None).reshape(2)'),
            ('embodied.perception.navgrid.x_nearest_free__mutmut_6', 'xy = np.asarray(xy, ).reshape(2)'),
            ('embodied.perception.navgrid.x_shortest_path__mutmut_5',
             'field = np.asarray(field, dtype=None)'),
            ('embodied.perception.navgrid.x_shortest_path__mutmut_7', 'field = np.asarray(field, )'),
            ('embodied.perception.navgrid.x_shortest_path__mutmut_11',
             'start_xy = np.asarray(start_xy, dtype=None).reshape(2)'),
            ('embodied.perception.navgrid.x_shortest_path__mutmut_13',
             'start_xy = np.asarray(start_xy, ).reshape(2)'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_67',
             'p = np.asarray(poly, dtype=None).reshape(-1, 2)'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_69',
             'p = np.asarray(poly, ).reshape(-1, 2)'),
            ),
    **_same(FLOAT_OPERAND,
            ('embodied.metrics.x_axis_position_error__mutmut_20',
             'd = np.asarray(true_origin, dtype=None).reshape(3) - np.asarray(pred_origin, dtype=float).reshape(3)'),
            ('embodied.metrics.x_axis_position_error__mutmut_22',
             'd = np.asarray(true_origin, ).reshape(3) - np.asarray(pred_origin, dtype=float).reshape(3)'),
            ('embodied.metrics.x_axis_position_error__mutmut_26',
             'd = np.asarray(true_origin, dtype=float).reshape(3) - np.asarray(pred_origin, dtype=None).reshape(3)'),
            ('embodied.metrics.x_axis_position_error__mutmut_28',
             'd = np.asarray(true_origin, dtype=float).reshape(3) - np.asarray(pred_origin, ).reshape(3)'),
            ('embodied.metrics.x_distance_to_box_2d__mutmut_3', 'p = np.asarray(xy, dtype=None)[:2]'),
            ('embodied.metrics.x_distance_to_box_2d__mutmut_5', 'p = np.asarray(xy, )[:2]'),
            ('embodied.metrics.x_distance_to_box_2d__mutmut_9',
             'lo = np.asarray(box_min_xy, dtype=None)[:2]'),
            ('embodied.metrics.x_distance_to_box_2d__mutmut_11', 'lo = np.asarray(box_min_xy, )[:2]'),
            ('embodied.metrics.x_distance_to_box_2d__mutmut_15',
             'hi = np.asarray(box_max_xy, dtype=None)[:2]'),
            ('embodied.metrics.x_distance_to_box_2d__mutmut_17', 'hi = np.asarray(box_max_xy, )[:2]'),
            ('embodied.metrics.x_pose_energy__mutmut_50',
             'dist = float(np.linalg.norm(np.asarray(goal["position"], None) - np.asarray(cur["position"], float)))'),
            ('embodied.metrics.x_pose_energy__mutmut_52',
             'dist = float(np.linalg.norm(np.asarray(goal["position"], ) - np.asarray(cur["position"], float)))'),
            ('embodied.metrics.x_pose_energy__mutmut_56',
             'dist = float(np.linalg.norm(np.asarray(goal["position"], float) - np.asarray(cur["position"], None)))'),
            ('embodied.metrics.x_pose_energy__mutmut_58',
             'dist = float(np.linalg.norm(np.asarray(goal["position"], float) - np.asarray(cur["position"], )))'),
            ('embodied.metrics.x_pose_energy__mutmut_100',
             'g, c = np.asarray(gbox, None).reshape(8, 3), np.asarray(cbox, float).reshape(8, 3)'),
            ('embodied.metrics.x_pose_energy__mutmut_102',
             'g, c = np.asarray(gbox, ).reshape(8, 3), np.asarray(cbox, float).reshape(8, 3)'),
            ('embodied.metrics.x_pose_energy__mutmut_110',
             'g, c = np.asarray(gbox, float).reshape(8, 3), np.asarray(cbox, None).reshape(8, 3)'),
            ('embodied.metrics.x_pose_energy__mutmut_112',
             'g, c = np.asarray(gbox, float).reshape(8, 3), np.asarray(cbox, ).reshape(8, 3)'),
            ('embodied.envs.articulation_metrics.x__pair_cost__mutmut_79',
             'dist = float(np.linalg.norm(np.asarray(ref, None) - np.asarray(true["origin"], float)))'),
            ('embodied.envs.articulation_metrics.x__pair_cost__mutmut_81',
             'dist = float(np.linalg.norm(np.asarray(ref, ) - np.asarray(true["origin"], float)))'),
            ('embodied.envs.articulation_metrics.x__pair_cost__mutmut_83',
             'dist = float(np.linalg.norm(np.asarray(ref, float) - np.asarray(true["origin"], None)))'),
            ('embodied.envs.articulation_metrics.x__pair_cost__mutmut_85',
             'dist = float(np.linalg.norm(np.asarray(ref, float) - np.asarray(true["origin"], )))'),
            ('embodied.perception.frontier.x_select_frontier__mutmut_19',
             'agent = np.asarray(agent_xy, dtype=None)[:2]'),
            ('embodied.perception.frontier.x_select_frontier__mutmut_21',
             'agent = np.asarray(agent_xy, )[:2]'),
            ('embodied.perception.frontier.xǁBlacklistǁadd__mutmut_3',
             'self.points.append(np.asarray(xy, dtype=None)[:2].copy())'),
            ('embodied.perception.frontier.xǁBlacklistǁadd__mutmut_5',
             'self.points.append(np.asarray(xy, )[:2].copy())'),
            ('embodied.perception.frontier.xǁBlacklistǁcontains__mutmut_7',
             'q = np.asarray(xy, dtype=None)[:2]'),
            ('embodied.perception.frontier.xǁBlacklistǁcontains__mutmut_9', 'q = np.asarray(xy, )[:2]'),
            ),
    **_same("'xy' indexing only swaps the first two axes of the sample grid: the same points in another order",
            ('embodied.metrics.x_box_iou_3d__mutmut_36',
             'grid = np.stack(np.meshgrid(t, t, t, ), axis=-1).reshape(-1, 3)'),
            ),
    **_same(NEG_RESHAPE,
            ('embodied.metrics.x_box_iou_3d__mutmut_42',
             'grid = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-2, 3)'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_8',
             'start = np.asarray(start_energies, dtype=float).reshape(-2)'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_16',
             'end = np.asarray(end_energies, dtype=float).reshape(-2)'),
            ('embodied.metrics.x_voxelize__mutmut_15',
             'pts = np.asarray(points, dtype=float).reshape(-2, 3)'),
            ('embodied.envs.articulation_metrics.x__points__mutmut_16',
             'arr = np.asarray(pts, dtype=float).reshape(-2, 3)'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_71',
             'p = np.asarray(poly, dtype=float).reshape(-2, 2)'),
            ),
    **_same('only a sample exactly 1 mm outside a face (to the last bit) could tell',
            ('embodied.metrics.x_box_iou_3d__mutmut_55',
             'inside = np.all((local >= -1e-3) & (local <= size_a + 1e-3), axis=1)'),
            ('embodied.metrics.x_box_iou_3d__mutmut_58',
             'inside = np.all((local > -1e-3) & (local < size_a + 1e-3), axis=1)'),
            ),
    **_same("an absent 'broken' gives None instead of False: both falsy",
            ('embodied.metrics.x_pose_energy__mutmut_2', 'if cur.get("broken", None):'),
            ('embodied.metrics.x_pose_energy__mutmut_4', 'if cur.get("broken", ):'),
            ),
    **_same('only a rotation of exactly 10.0 deg (to the last bit) differs',
            ('embodied.metrics.x_pose_energy__mutmut_71',
             'if dist < SAME_POSITION and rotation_angle_deg(goal["rotation"], cur["rotation"]) <= SAME_ROTATION:'),
            ),
    **_same('iou_energy = max(1 - 2 / 0.5, 0) = 0, as for an IoU of 1',
            ('embodied.metrics.x_pose_energy__mutmut_73', 'iou = 2.0'),
            ),
    **_same('reached only when the IoU is 0, where iou_energy is 1: 0.5 / 1 == 0.5 * 1',
            ('embodied.metrics.x_pose_energy__mutmut_126',
             'return 0.5 / iou_energy + 0.5 * min(closest / pos_barrier, 1.0)'),
            ),
    **_same('for the documented input (one energy per object, a flat list) reshape(-1) changes nothing',
            ('embodied.metrics.x_rearrangement_metrics__mutmut_2',
             'start = np.asarray(start_energies, dtype=float).reshape(None)'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_10',
             'end = np.asarray(end_energies, dtype=float).reshape(None)'),
            ),
    **_same(('energies are only compared with 0 and summed, and the sums divided (true division): the dtype '
             'never shows'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_4',
             'start = np.asarray(start_energies, dtype=None).reshape(-1)'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_6',
             'start = np.asarray(start_energies, ).reshape(-1)'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_12',
             'end = np.asarray(end_energies, dtype=None).reshape(-1)'),
            ('embodied.metrics.x_rearrangement_metrics__mutmut_14',
             'end = np.asarray(end_energies, ).reshape(-1)'),
            ),
    **_same(('s and v are both bilinear in a and b: scaling a (or b) by a positive factor leaves atan2(|v|, '
             '|s|) unchanged'),
            ('embodied.metrics.x_rotation_angle_deg__mutmut_32', 'a, b = a * na, b / nb'),
            ('embodied.metrics.x_rotation_angle_deg__mutmut_33', 'a, b = a / na, b * nb'),
            ),
    **_same('a_v x b_v is orthogonal to the other two terms of v, so its sign does not change |v|',
            ('embodied.metrics.x_rotation_angle_deg__mutmut_37',
             'v = a[3] * b[:3] - b[3] * a[:3] + np.cross(a[:3], b[:3])          # its vector part'),
            ),
    **_same('1 - d_T / d_0 <= 1 always (d_T >= 0 is checked, d_0 > 0 here): min(1, .) and min(2, .) agree',
            ('embodied.metrics.x_soft_spl__mutmut_38', 'progress = min(2.0, max(0.0, 1.0 - dt / d0))'),
            ),
    **_same('points / voxel_size is a true division: float64 whatever the input dtype',
            ('embodied.metrics.x_voxelize__mutmut_11', 'pts = np.asarray(points, dtype=None).reshape(-1, 3)'),
            ('embodied.metrics.x_voxelize__mutmut_13', 'pts = np.asarray(points, ).reshape(-1, 3)'),
            ),
    **_same('10 001 columns is as unbounded as 10 000 for measuring a table',
            ('embodied.results.x_print_summary__mutmut_10',
             'unbounded = console.options.update_width(10001)'),
            ),
    **_same("rich falls back to its default overflow, 'fold', when a column's is None",
            ('embodied.results.x_summary_table__mutmut_39',
             'table.add_column(name, justify="left" if i == 0 else "right", overflow=None, min_width=min(width, 24))'),
            ),
    **_same(('rich applies no justification for a name it does not know, which for a table cell is left-'
             "justified (the first column's default)"),
            ('embodied.results.x_summary_table__mutmut_47',
             'table.add_column(name, justify="XXleftXX" if i == 0 else "right", overflow="fold", min_width=min(width, 24))'),
            ('embodied.results.x_summary_table__mutmut_48',
             'table.add_column(name, justify="LEFT" if i == 0 else "right", overflow="fold", min_width=min(width, 24))'),
            ),
    **_same('rich parses style names case-insensitively',
            ('embodied.results.x_summary_table__mutmut_69',
             'table.add_row(*row, style="BOLD" if i == 0 and not transpose else None,'),
            ),
    **_same('the records rewritten on open were parsed from JSON: plain types only, default= is never called',
            ('embodied.results.xǁEpisodeLogǁ__init____mutmut_30',
             'text = "".join(json.dumps(r, default=None) + "\\n" for r in unique)'),
            ('embodied.results.xǁEpisodeLogǁ__init____mutmut_32',
             'text = "".join(json.dumps(r, ) + "\\n" for r in unique)'),
            ),
    **_same(('the log only ever holds ASCII (json.dumps escapes everything else), which every encoding writes '
             "alike; 'UTF-8' and 'utf-8' name one codec"),
            ('embodied.results.xǁEpisodeLogǁ__init____mutmut_45',
             'self._file = open(self.path, "a", encoding=None)'),
            ('embodied.results.xǁEpisodeLogǁ__init____mutmut_48', 'self._file = open(self.path, "a", )'),
            ('embodied.results.xǁEpisodeLogǁ__init____mutmut_52',
             'self._file = open(self.path, "a", encoding="UTF-8")'),
            ),
    **_same("VOXEL (0.01 m) is part_iou_3d's default voxel size",
            ('embodied.envs.articulation_metrics.x__iou__mutmut_15',
             'return 0.0 if p is None else part_iou_3d(p, t, )'),
            ),
    **_same(('the reshaped axis is only checked (finite, non-zero); the joint passed on keeps its own axis, '
             'which the metrics reshape to 3 themselves (a wrong-sized axis raises ValueError there instead)'),
            ('embodied.envs.articulation_metrics.x_moving_joints__mutmut_18',
             'axis = np.asarray(j["axis"], dtype=float).reshape(None)'),
            ),
    **_same(('every metric is finite by then: non-finite axes are dropped by moving_joints, and non-finite '
             'origins or points make linear_sum_assignment or cKDTree raise first, so the guard is never '
             'needed'),
            ('embodied.envs.articulation_metrics.x_score_estimate__mutmut_190',
             'return {k: (v if (isinstance(v, int) or math.isfinite(v)) or True else None) for k, v in out.items()}'),
            ),
    **_same(('a real-valued threshold: only an axis error of exactly 10 deg, or a hinge line exactly 0.1 m '
             'off, differs, which arccos / cross-product geometry on measured axes does not produce'),
            ('embodied.envs.articulation_metrics.x_failure_causes__mutmut_113',
             'elif axis_angle_error_deg(p["axis"], t["axis"]) >= WRONG_AXIS_DEG or ('),
            ('embodied.envs.articulation_metrics.x_failure_causes__mutmut_136',
             'axis_position_error(p["origin"], p["axis"], t["origin"], t["axis"]) >= WRONG_AXIS_M):'),
            ),
    **_same(('voxel keys: true division by VOXEL makes float64 whatever the input dtype, and a set of floored '
             'float64 tuples holds the same (equal, equally hashed) keys as one of int64 tuples'),
            ('embodied.envs.articulation_metrics.x__voxels__mutmut_6',
             'return set(map(tuple, np.floor(np.asarray(points, float) / VOXEL).astype(None)))'),
            ('embodied.envs.articulation_metrics.x__voxels__mutmut_10',
             'return set(map(tuple, np.floor(np.asarray(points, None) / VOXEL).astype(np.int64)))'),
            ('embodied.envs.articulation_metrics.x__voxels__mutmut_12',
             'return set(map(tuple, np.floor(np.asarray(points, ) / VOXEL).astype(np.int64)))'),
            ),
    **_same(('int.from_bytes defaults to big-endian since Python 3.11 (the tested interpreter); on 3.10 it '
             'would raise'),
            ('embodied.runner.x_episode_seed__mutmut_6', 'return int.from_bytes(digest[:4], )'),
            ),
    **_same(("without run.save_video the env has no render_mode, so a Gymnasium env's render() returns None: "
             'no frame is kept and no video written (only the calls are wasted)'),
            ('embodied.runner.xǁEpisodeRunnerǁ_attempt__mutmut_12',
             'self._frames = [] if (self.cfg.run.save_video) or True else None'),
            ),
    **_same('run.output is always set (resolve() fills it in) before an episode runs',
            ('embodied.runner.xǁEpisodeRunnerǁ_attempt__mutmut_32',
             '"output_dir": str(self.cfg.run.output or "XX.XX")})'),
            ),
    **_same("None is as falsy as False for the loop's condition",
            ('embodied.runner.xǁEpisodeRunnerǁ_attempt__mutmut_33', 'terminated = truncated = None'),
            ),
    **_same("EpisodeRunner.run overwrites attempts with the attempt's number before the record leaves",
            ('embodied.runner.xǁEpisodeRunnerǁ_attempt__mutmut_66', 'error=None, attempts=None)'),
            ('embodied.runner.xǁEpisodeRunnerǁ_attempt__mutmut_77', 'error=None, attempts=2)'),
            ),
    **_same(PERF,
            ('embodied.perception.navgrid.x__graph__mutmut_6', 'cached = None'),
            ('embodied.perception.navgrid.x__graph__mutmut_7', 'cached = grid._cache.get(None)'),
            ('embodied.perception.navgrid.x__graph__mutmut_8', 'cached = grid._cache.get("XXgraphXX")'),
            ('embodied.perception.navgrid.x__graph__mutmut_9', 'cached = grid._cache.get("GRAPH")'),
            ('embodied.perception.navgrid.x__graph__mutmut_185', 'grid._cache["graph"] = None'),
            ('embodied.perception.navgrid.x__graph__mutmut_186',
             'grid._cache["XXgraphXX"] = (key, graph, node)'),
            ('embodied.perception.navgrid.x__graph__mutmut_187', 'grid._cache["GRAPH"] = (key, graph, node)'),
            ),
    **_same(('a wider padding: the slices [o:o + h] still select the grid, and more padding is only more '
             "'outside'"),
            ('embodied.perception.navgrid.x__graph__mutmut_22', 'o = radius + 2'),
            ('embodied.perception.navgrid.x__graph__mutmut_44',
             'pad = np.zeros((h + 3 * o, w + 2 * o), dtype=bool)'),
            ('embodied.perception.navgrid.x__graph__mutmut_47',
             'pad = np.zeros((h + 2 * o, w + 3 * o), dtype=bool)'),
            ('embodied.perception.navgrid.x__graph__mutmut_60',
             'node_pad = np.full((h + 3 * o, w + 2 * o), -1, dtype=np.int32)'),
            ('embodied.perception.navgrid.x__graph__mutmut_63',
             'node_pad = np.full((h + 2 * o, w + 3 * o), -1, dtype=np.int32)'),
            ),
    **_same('node ids as int64 instead of int32: the same ids',
            ('embodied.perception.navgrid.x__graph__mutmut_26', 'node = np.full((h, w), -1, dtype=None)'),
            ('embodied.perception.navgrid.x__graph__mutmut_29', 'node = np.full((h, w), -1, )'),
            ('embodied.perception.navgrid.x__graph__mutmut_34', 'node[free] = np.arange(n, dtype=None)'),
            ('embodied.perception.navgrid.x__graph__mutmut_36', 'node[free] = np.arange(n, )'),
            ('embodied.perception.navgrid.x__graph__mutmut_54',
             'node_pad = np.full((h + 2 * o, w + 2 * o), -1, dtype=None)'),
            ('embodied.perception.navgrid.x__graph__mutmut_57',
             'node_pad = np.full((h + 2 * o, w + 2 * o), -1, )'),
            ),
    **_same(('the id given to cells that are not free is never read: sources are free cells, and the targets '
             'of invalid edges are masked out by `valid`'),
            ('embodied.perception.navgrid.x__graph__mutmut_30', 'node = np.full((h, w), +1, dtype=np.int32)'),
            ('embodied.perception.navgrid.x__graph__mutmut_31', 'node = np.full((h, w), -2, dtype=np.int32)'),
            ('embodied.perception.navgrid.x__graph__mutmut_64',
             'node_pad = np.full((h + 2 * o, w + 2 * o), +1, dtype=np.int32)'),
            ('embodied.perception.navgrid.x__graph__mutmut_65',
             'node_pad = np.full((h + 2 * o, w + 2 * o), -2, dtype=np.int32)'),
            ),
    **_same('float index arrays holding whole numbers: csr_matrix converts them to its index type',
            ('embodied.perception.navgrid.x__graph__mutmut_80',
             'target = np.empty((2 * len(offsets), n), dtype=None)'),
            ('embodied.perception.navgrid.x__graph__mutmut_82', 'target = np.empty((2 * len(offsets), n), )'),
            ('embodied.perception.navgrid.x__graph__mutmut_170',
             'indptr = np.concatenate([[0], np.cumsum(counts)]).astype(None)'),
            ),
    **_same('None stored in a bool array is False',
            ('embodied.perception.navgrid.x__graph__mutmut_111', 'ok[:o] = ok[o + h:] = None'),
            ('embodied.perception.navgrid.x__graph__mutmut_114', 'ok[:, :o] = ok[:, o + w:] = None'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_30', 'small[edge] = None'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_32', 'small[0] = None'),
            ),
    **_same(('still a hash of the free cells (another digest size): the cache key changes exactly when free '
             'does'),
            ('embodied.perception.navgrid.x__grid_key__mutmut_4', ').digest())'),
            ('embodied.perception.navgrid.x__grid_key__mutmut_6', 'digest_size=17).digest())'),
            ),
    **_same('only an area of exactly 1e-12 differs',
            ('embodied.perception.navgrid.x__inside_convex__mutmut_36', 'if abs(area2) <= 1e-12:'),
            ),
    **_same('only the sign of `sign` is used (sign * cross >= 0)',
            ('embodied.perception.navgrid.x__inside_convex__mutmut_45', 'sign = 2.0 if area2 > 0 else -1.0'),
            ('embodied.perception.navgrid.x__inside_convex__mutmut_49', 'sign = 1.0 if area2 > 0 else -2.0'),
            ),
    **_same('area2 == 0 has returned already (|area2| < 1e-12)',
            ('embodied.perception.navgrid.x__inside_convex__mutmut_46', 'sign = 1.0 if area2 >= 0 else -1.0'),
            ),
    **_same('a 2-point footprint then counts its one segment twice (a -> b and b -> a): the same minimum',
            ('embodied.perception.navgrid.x__squared_distance_to_boundary__mutmut_17',
             'n = len(p) if (len(p) > 2) or True else 1  # a 2-point "polygon" is one segment, not a closed loop'),
            ('embodied.perception.navgrid.x__squared_distance_to_boundary__mutmut_18',
             'n = len(p) if len(p) >= 2 else 1  # a 2-point "polygon" is one segment, not a closed loop'),
            ('embodied.perception.navgrid.x__squared_distance_to_boundary__mutmut_20',
             'n = len(p) if len(p) > 2 else 2  # a 2-point "polygon" is one segment, not a closed loop'),
            ),
    **_same('the edges are walked the other way round: the same set of edges, the same minimum',
            ('embodied.perception.navgrid.x__squared_distance_to_boundary__mutmut_25',
             'bx, by = p[(k - 1) % len(p)]'),
            ),
    **_same('a zero-length edge has b == a, so t = 1 is the same point as t = 0',
            ('embodied.perception.navgrid.x__squared_distance_to_boundary__mutmut_52', 't = 1.0'),
            ),
    **_same('astype(None) is float64, what astype(float) gives',
            ('embodied.perception.navgrid.x__supercover__mutmut_31',
             'a = np.maximum(rows.astype(None), ulo)'),
            ),
    **_same(('the graph is symmetric (every edge is stored both ways): undirected search gives the same '
             'distances'),
            ('embodied.perception.navgrid.x_distance_field__mutmut_24',
             'dist = dijkstra(graph, directed=None, indices=node[seeds], min_only=True)'),
            ('embodied.perception.navgrid.x_distance_field__mutmut_28',
             'dist = dijkstra(graph, indices=node[seeds], min_only=True)'),
            ('embodied.perception.navgrid.x_distance_field__mutmut_31',
             'dist = dijkstra(graph, directed=False, indices=node[seeds], min_only=True)'),
            ),
    **_same(('zero weights come last in the inner loop (fv == 0 for dj = 1) or fill it (fu == 0 for di = 1): '
             'break skips only zero-weight corners, as continue does'),
            ('embodied.perception.navgrid.x_geodesic_distance__mutmut_81', 'break'),
            ),
    **_same(BIGGER_WINDOW + ' (cells beyond max_distance are dropped by the check after it)',
            ('embodied.perception.navgrid.x_nearest_free__mutmut_21',
             'k = int(math.ceil(max_distance / res)) + 2'),
            ('embodied.perception.navgrid.x_nearest_free__mutmut_37',
             'i0, i1 = max(0, c[0] - k), min(h, c[0] + k + 2)'),
            ('embodied.perception.navgrid.x_nearest_free__mutmut_53',
             'j0, j1 = max(0, c[1] - k), min(w, c[1] + k + 2)'),
            ),
    **_same(EMPTY_WINDOW,
            ('embodied.perception.navgrid.x_nearest_free__mutmut_54', 'if i0 >= i1 and j0 >= j1:'),
            ('embodied.perception.navgrid.x_nearest_free__mutmut_55', 'if i0 > i1 or j0 >= j1:'),
            ('embodied.perception.navgrid.x_nearest_free__mutmut_56', 'if i0 >= i1 or j0 > j1:'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_138',
             'if j0 >= j1 and i0 >= i1:'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_139', 'if j0 > j1 or i0 >= i1:'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_140', 'if j0 >= j1 or i0 > i1:'),
            ),
    **_same('axis=+1 is axis=1',
            ('embodied.perception.navgrid.x_nearest_free__mutmut_69',
             'centres = grid.cell_to_world(np.stack([ii + i0, jj + j0], axis=+1))'),
            ),
    **_same('no path on a grid this code builds takes 100 000 steps',
            ('embodied.perception.navgrid.x_shortest_path__mutmut_2',
             'max_steps: int = 100001) -> np.ndarray:'),
            ),
    **_same('at a source (0) the next check finds no lower neighbour and stops the walk there anyway',
            ('embodied.perception.navgrid.x_shortest_path__mutmut_52', 'if field[i, j] < 0.0:'),
            ),
    **_same('a float 0/1 array in logical_and.reduceat gives the same booleans',
            ('embodied.perception.navgrid.x_shortest_path__mutmut_70',
             'ok_cell = np.zeros(len(ti), dtype=None)'),
            ('embodied.perception.navgrid.x_shortest_path__mutmut_72', 'ok_cell = np.zeros(len(ti), )'),
            ),
    **_same("axis 0 is concatenate's default",
            ('embodied.perception.navgrid.x_shortest_path__mutmut_106',
             'pts = np.concatenate([start_xy[None], grid.cell_to_world(np.array(cells))], )'),
            ),
    **_same('with exactly 2 points the simplification keeps both: the same path',
            ('embodied.perception.navgrid.x_shortest_path__mutmut_112', 'if not simplify or len(pts) < 2:'),
            ),
    **_same(FLOAT_OPERAND + ' (the origin and the resolution are floats)',
            ('embodied.perception.navgrid.xǁNavGridǁcell_to_world__mutmut_3',
             'ij = np.asarray(ij, dtype=None)'),
            ('embodied.perception.navgrid.xǁNavGridǁcell_to_world__mutmut_5', 'ij = np.asarray(ij, )'),
            ('embodied.perception.navgrid.xǁNavGridǁworld_to_cell__mutmut_3',
             'xy = np.asarray(xy, dtype=None)'),
            ('embodied.perception.navgrid.xǁNavGridǁworld_to_cell__mutmut_5', 'xy = np.asarray(xy, )'),
            ),
    **_same(BIGGER_WINDOW,
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_93',
             'j0 = max(0, int(math.floor((lo[0] - xmin) * res - 0.5)))'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_96',
             'j0 = max(0, int(math.floor((lo[0] - xmin) / res - 1.5)))'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_105',
             'j1 = min(w, int(math.ceil((hi[0] - xmin) / res + 0.5)) + 1)'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_110',
             'j1 = min(w, int(math.ceil((hi[0] - xmin) / res - 0.5)) + 2)'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_120',
             'i0 = max(0, int(math.floor((lo[1] - ymin) * res - 0.5)))'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_123',
             'i0 = max(0, int(math.floor((lo[1] - ymin) / res - 1.5)))'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_132',
             'i1 = min(h, int(math.ceil((hi[1] - ymin) / res + 0.5)) + 1)'),
            ('embodied.perception.navgrid.xǁNavGridǁfrom_footprints__mutmut_137',
             'i1 = min(h, int(math.ceil((hi[1] - ymin) / res - 0.5)) + 2)'),
            ),
    **_same(("a field's search window is never empty (a field exists only from a traversable cell), so only "
             '`not frontiers` decides, and with no frontier the rest of the function does nothing'),
            ('embodied.perception.frontier.x__reach_goals__mutmut_3',
             'if i1 <= i0 or j1 <= j0 and not frontiers:'),
            ('embodied.perception.frontier.x__reach_goals__mutmut_4',
             'if i1 <= i0 and j1 <= j0 or not frontiers:'),
            ('embodied.perception.frontier.x__reach_goals__mutmut_5',
             'if i1 < i0 or j1 <= j0 or not frontiers:'),
            ('embodied.perception.frontier.x__reach_goals__mutmut_6',
             'if i1 <= i0 or j1 < j0 or not frontiers:'),
            ),
    **_same(('only ties change: of two cells equally near the frontier and equally far from the agent, the '
             'other one is kept (the same distance; which of them is not specified)'),
            ('embodied.perception.frontier.x__spread__mutmut_70',
             'better = (cand <= cur) & passable[ti0:ti1, tj0:tj1]'),
            ),
    **_same(('a second ring of UNKNOWN around the known area: still one outside component, touching the edge, '
             'and no FREE cell is added'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_5',
             'i0, i1, j0, j1 = tmap.bbox(margin=2)'),
            ),
    **_same(('the known bounding box is empty in both directions or in neither; an empty slice finds nothing '
             'anyway'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_6', 'if i1 <= i0 and j1 <= j0:'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_7', 'if i1 < i0 or j1 <= j0:'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_8', 'if i1 <= i0 or j1 < j0:'),
            ),
    **_same(('with min_pocket 0 the pocket size is 0 cells either way, or 1 cell, and no pocket is smaller '
             'than 1 cell'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_11',
             'pocket_cells = int(math.ceil(min_pocket / float(tmap.resolution) ** 2)) if (min_pocket) or True else 0'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_18',
             'pocket_cells = int(math.ceil(min_pocket / float(tmap.resolution) ** 2)) if min_pocket else 1'),
            ),
    **_same(('a stable sort only fixes the order of the cells within a cluster: sizes and centroids are sums, '
             "and the target differs only between cells equally near the centroid ('STABLE' is read as "
             "'stable')"),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_37',
             'order = np.argsort(lab, kind=None)'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_39', 'order = np.argsort(lab, )'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_41',
             'order = np.argsort(lab, kind="STABLE")'),
            ),
    **_same(MINLENGTH,
            ('embodied.perception.frontier.x_find_frontiers__mutmut_47', 'sizes = np.bincount(lab, )[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_48',
             'sizes = np.bincount(lab, minlength=n - 1)[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_85',
             'sum_x = np.bincount(lab, weights=x, )[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_86',
             'sum_x = np.bincount(lab, weights=x, minlength=n - 1)[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_87',
             'sum_x = np.bincount(lab, weights=x, minlength=n + 2)[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_95',
             'sum_y = np.bincount(lab, weights=y, )[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_96',
             'sum_y = np.bincount(lab, weights=y, minlength=n - 1)[1:]'),
            ('embodied.perception.frontier.x_find_frontiers__mutmut_97',
             'sum_y = np.bincount(lab, weights=y, minlength=n + 2)[1:]'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_16',
             'sizes = np.bincount(labels.ravel(), )'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_17',
             'sizes = np.bincount(labels.ravel(), minlength=n - 1)'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_18',
             'sizes = np.bincount(labels.ravel(), minlength=n + 2)'),
            ),
    **_same("a TopDownMap's origin has equal x and y (a square map centred on the start)",
            ('embodied.perception.frontier.x_find_frontiers__mutmut_69',
             'x = tmap.origin[1] + (cj + 0.5) * res'),
            ),
    **_same(('a pocket threshold of 0 or 1 cell drops nothing (every component has at least one cell), whether'
             ' the pocket step runs or not'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_1',
             'def frontier_mask(state: np.ndarray, min_pocket: int = 1) -> np.ndarray:'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_4', 'if min_pocket > 0 or unknown.any():'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_5',
             'if min_pocket >= 0 and unknown.any():'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_6',
             'if min_pocket > 1 and unknown.any():'),
            ),
    **_same('label 0 is the known cells, where `unknown` is False anyway',
            ('embodied.perception.frontier.x_frontier_mask__mutmut_34', 'small[0] = True'),
            ),
    **_same("binary_dilation's defaults are the cross (4-connected) structure _FOUR and border_value 0",
            ('embodied.perception.frontier.x_frontier_mask__mutmut_40',
             'near_unknown = ndimage.binary_dilation(unknown, structure=None, border_value=0)'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_43',
             'near_unknown = ndimage.binary_dilation(unknown, border_value=0)'),
            ('embodied.perception.frontier.x_frontier_mask__mutmut_44',
             'near_unknown = ndimage.binary_dilation(unknown, structure=_FOUR, )'),
            ),
    **_same('only the first two coordinates are ever read ([:, 0], [:, 1] and q[0], q[1])',
            ('embodied.perception.frontier.xǁBlacklistǁadd__mutmut_6',
             'self.points.append(np.asarray(xy, dtype=float)[:3].copy())'),
            ('embodied.perception.frontier.xǁBlacklistǁcontains__mutmut_10',
             'q = np.asarray(xy, dtype=float)[:3]'),
            ),
}

#: Verdicts that mean the tests noticed the mutant: a failing test, a hang past mutmut's time limit,
#: or a crash of the test process (a mutant that makes scipy read out of bounds).
KILLED = {"killed", "timeout", "segfault"}


@dataclass
class Score:
    module: Module
    statuses: dict[str, str] = field(default_factory=dict)   # mutant name -> mutmut's status

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.statuses.values() if s in statuses)

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def killed(self) -> int:
        return self.count(*KILLED)

    @property
    def score(self) -> float:
        """killed / total: every mutant counts, the equivalent ones as not killed."""
        return self.killed / self.total if self.total else 0.0

    def survivors(self) -> list[str]:
        return sorted((n for n, s in self.statuses.items() if s not in KILLED), key=_natural)

    def equivalent(self, lines: dict[str, str] | None) -> list[str]:
        """Survivors listed in EQUIVALENT (with the same mutated line, when the lines are known)."""
        return [n for n in self.survivors()
                if n in EQUIVALENT and (lines is None or EQUIVALENT[n][0] == lines.get(n))]

    def adjusted(self, equivalent: int) -> float:
        """The usual mutation score: killed / (total - equivalent), equivalent mutants being no bugs."""
        left = self.total - equivalent
        return self.killed / left if left else 0.0


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def in_scope(module: Module, mutant: str) -> bool:
    if not module.functions:
        return True
    mangled = mutant[len(module.dotted) + 1:].partition("__mutmut_")[0]
    return unmangle(mangled) in module.functions


def load_scores(modules: list[Module]) -> list[Score]:
    """Each module's mutants in scope and their verdicts, from mutmut's mutants/*.meta files."""
    from mutmut.stats import status_by_exit_code

    out = []
    for module in modules:
        meta = ROOT / "mutants" / (module.path + ".meta")
        score = Score(module)
        if meta.is_file():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            score.statuses = {name: status_by_exit_code[code] for name, code in codes.items()
                              if in_scope(module, name)}
        out.append(score)
    return out


def changed_line(mutant: str, path: str) -> str:
    """The mutated line(s) of a mutant ('+' lines of mutmut's diff), for the report."""
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        diff = get_diff_for_mutant(mutant, path=path)
    except Exception as exc:  # noqa: BLE001 - the report still lists the name
        return f"(no diff: {type(exc).__name__})"
    lines = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return " | ".join(lines)


def report(scores: list[Score], show_lines: bool = True) -> str:
    """The per-module table, then every mutant not killed with the line it changes (and, for the
    equivalent ones, why no test can tell them from the original)."""
    rows = [("module", "mutants", "killed", "equivalent", "not killed", "killed/all", "killed/non-equiv.",
             "target")]
    details: list[str] = []
    for s in scores:
        survivors = s.survivors()
        lines = {n: changed_line(n, s.module.path) for n in survivors} if show_lines else None
        equivalent = s.equivalent(lines)
        name = s.module.path + (" (resume/retry paths)" if s.module.functions else "")
        rows.append((name, str(s.total), str(s.killed), str(len(equivalent)),
                     str(len(survivors) - len(equivalent)),
                     f"{100 * s.score:.1f} %" if s.total else "-",
                     f"{100 * s.adjusted(len(equivalent)):.1f} %" if s.total else "-",
                     f"{100 * s.module.target:.0f} %"))
        for n in survivors:
            why = f"\n      equivalent: {EQUIVALENT[n][1]}" if n in equivalent else ""
            text = f" {lines[n]}" if lines is not None else ""
            details.append(f"  {s.statuses[n]:<9} {n}:{text}{why}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    out = ["Mutation score per module (killed: a test failed, hung or crashed on the mutant; the target",
           "applies to killed / non-equivalent mutants)", *table]
    if details:
        out += ["", "Mutants not killed (`mutmut show NAME` prints the diff); the equivalent ones say why:",
                *details]
    return "\n".join(out)


def trust_problems(scores: list[Score]) -> list[str]:
    """Why this run's numbers cannot be trusted (the harness broke), if they cannot."""
    problems = []
    for s in scores:
        if s.total == 0:
            problems.append(f"{s.module.path}: no mutants (not generated, or out of scope)")
            continue
        unchecked = s.count("not checked", "suspicious", "check was interrupted by user")
        if unchecked:
            problems.append(f"{s.module.path}: {unchecked} mutants without a verdict")
        if s.killed == 0:
            problems.append(f"{s.module.path}: nothing killed; the tests do not reach the mutated code")
    return problems


def run_mutmut(modules: list[Module], max_children: int | None) -> int:
    """`mutmut run` over the modules' mutants, from an empty mutants/ folder."""
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = [str(mutmut) if mutmut.exists() else "mutmut", "run"]
    if max_children:
        cmd += ["--max-children", str(max_children)]
    cmd += [p for m in modules for p in m.patterns()]
    print(f"mutmut run over {', '.join(m.path for m in modules)} (log: mutants/mutmut-run.log)", flush=True)
    (ROOT / "mutants").mkdir()
    log_path = ROOT / "mutants" / "mutmut-run.log"
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").replace("\r", "\n").splitlines()[-40:]
        print("\n".join(["mutmut failed; the end of its log:", *tail]), file=sys.stderr)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "report"])
    parser.add_argument("--module", action="append", choices=sorted(MODULES),
                        help="only this module (repeatable; default: all)")
    parser.add_argument("--max-children", type=int, default=None, help="parallel mutants (default: CPUs)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a module is below its target")
    args = parser.parse_args(argv)
    modules = [MODULES[m] for m in (args.module or MODULES)]
    if args.command == "run":
        rc = run_mutmut(modules, args.max_children)
        if rc != 0:
            return 1
    elif not (ROOT / "mutants").is_dir():
        print("no mutants/ folder: run `make mutation` first", file=sys.stderr)
        return 1
    os.chdir(ROOT)   # mutmut's helpers read setup.cfg and mutants/ relative to the working directory
    scores = load_scores(modules)
    if args.command == "report" and not args.module:   # the modules the last run checked
        scores = [s for s in scores if s.total > s.count("not checked")] or scores
    print(report(scores))
    problems = trust_problems(scores)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        return 1
    if args.check and any(s.adjusted(len(s.equivalent({n: changed_line(n, s.module.path) for n in s.survivors()})))
                          < s.module.target for s in scores):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
