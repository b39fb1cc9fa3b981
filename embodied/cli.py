"""The `embodied` command: run experiments, list components, show results, make datasets, train models.

    embodied run CONFIG.yaml [key=value ...]     run or resume an experiment
    embodied list                                registered envs, agents, localizers
    embodied show RUN_DIR                        the summary table of a run
    embodied episodes generate --env ID --split NAME [--out FILE] [--episodes N] [key=value ...]
    embodied train SYSTEM CONFIG.yaml [key=value ...]   train a learned component (SYSTEM: csr, clip)
    embodied eval SYSTEM CONFIG.yaml [key=value ...]    evaluate what `embodied train` wrote
                                                        (also SYSTEM localization: score localizers)
    embodied patch CONFIG.yaml [key=value ...]   PAINT and model soups on a CLIP
    embodied ros-sim CONFIG.yaml [--episode N]   the embedded world as a ROS 2 robot
    embodied deploy CONFIG.yaml [--sim | --goal TEXT ...] [--bag]   the experiment's agent on a robot
    embodied bench scaling CONFIG.yaml [--workers 1 2] [--backends local ray]   episodes/s per worker count

Exit codes: 0 success, 2 a configuration problem (one line on stderr, no traceback: the user's to
fix), 1 anything else (with a traceback: a bug or a broken environment).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from embodied import registry
from embodied.config import ConfigError, EnvConfig, apply_overrides, load_config, validate_section

__all__ = ["main", "build_parser", "SYSTEMS"]

#: What `embodied train` / `embodied eval` can train and evaluate: system name -> the module that
#: does it (it provides load_job_config(path, overrides), train_job(config), eval_job(config)).
SYSTEMS = {"csr": "embodied.training.csr_job", "localization": "embodied.evaluation.localization",
           "clip": "embodied.training.clip_train"}


def _cmd_run(args: argparse.Namespace) -> int:
    from embodied.runner import run_experiment

    cfg = load_config(args.config, args.overrides)
    summary = run_experiment(cfg)
    print(f"results: {cfg.run.output} ({summary['episodes']} episodes, {summary['failed']} failed)")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from embodied.results import wide_console

    registry.load_builtin()
    registry.import_modules(args.imports, key="--import")
    console = wide_console()
    for kind in registry.kinds():
        table = Table(title=f"{kind}s", title_justify="left")
        table.add_column("id", style="bold")
        table.add_column("class")
        table.add_column("what it is")
        for ident in registry.ids(kind):
            entry = registry.get(kind, ident)
            table.add_row(ident, f"{entry.cls.__module__}.{entry.cls.__qualname__}", entry.doc)
        console.print(table)
    for module, error in sorted(registry.load_errors().items()):
        console.print(f"[dim]not loaded: {module} ({error})[/dim]", highlight=False)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from embodied.results import print_summary, read_records, read_summary, summarize

    run_dir = Path(args.run_dir)
    summary_path, log_path = run_dir / "summary.json", run_dir / "episodes.jsonl"
    summary, note = None, ""
    if summary_path.is_file():
        try:
            summary = read_summary(summary_path)
        except (OSError, ValueError) as exc:
            # summary.json is derived from episodes.jsonl: a broken one is rebuilt, not fatal
            if not log_path.is_file():
                raise ConfigError(f"RUN_DIR: {exc}, and there is no {log_path} to rebuild it from; "
                                  "expected the summary.json that `embodied run` writes") from None
            print(f"warning: {exc}; the table is rebuilt from {log_path}", file=sys.stderr)
            note = " (rebuilt from episodes.jsonl: summary.json is unreadable)"
    if summary is None and log_path.is_file():
        try:
            summary = summarize(read_records(log_path))
        except OSError as exc:
            raise ConfigError(f"RUN_DIR: cannot read {log_path} ({exc.strerror or exc}); expected the "
                              "episodes.jsonl that `embodied run` writes") from None
        note = note or " (unfinished: from episodes.jsonl)"
    if summary is None:
        raise ConfigError(f"RUN_DIR: {str(run_dir)!r} has no summary.json or episodes.jsonl; expected the "
                          "run.output folder of an `embodied run`")
    print_summary(summary, title=f"{run_dir}: {summary.get('episodes', 0)} episodes, "
                                 f"{summary.get('failed', 0)} failed{note}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    registry.load_builtin()
    registry.import_modules(args.imports, key="--import")
    raw: dict = {"env": {"id": args.env, "split": args.split}}
    if args.episodes is not None:
        raw["env"]["episodes"] = args.episodes
    apply_overrides(raw, [o if o.startswith("env.") else f"env.{o}" for o in args.overrides])
    env_cfg = validate_section(EnvConfig, raw["env"], "env")
    generate = registry.get("env", env_cfg.id).extra.get("generate_fn")
    if generate is None:
        raise ConfigError(f"--env: env {env_cfg.id!r} cannot generate episodes (it was registered "
                          "without generate_fn)")
    out = args.out or f"{args.split}.json"
    count = generate(env_cfg, out)
    print(f"wrote {count if count is not None else 'the'} episodes of {env_cfg.id} split "
          f"{args.split!r} to {out}")
    return 0


def _job_module(system: str) -> Any:
    """The module of a trainable system; imported late, as torch is slow to import."""
    if system not in SYSTEMS:
        raise ConfigError(f"SYSTEM: unknown system {system!r}; known systems: {', '.join(SYSTEMS)}")
    return importlib.import_module(SYSTEMS[system])


def _cmd_train(args: argparse.Namespace) -> int:
    job = _job_module(args.system)
    job.train_job(job.load_job_config(args.config, args.overrides))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    job = _job_module(args.system)
    job.eval_job(job.load_job_config(args.config, args.overrides))
    return 0


def _cmd_patch(args: argparse.Namespace) -> int:
    from embodied.training import paint_job

    paint_job.patch_job(paint_job.load_job_config(args.config, args.overrides))
    return 0


def _cmd_ros_sim(args: argparse.Namespace) -> int:
    from embodied.ros.sim import serve

    return serve(args.config, args.overrides, episode=args.episode, rate_hz=args.rate,
                 domain_id=args.domain_id, loopback_only=not args.any_interface,
                 privileged=args.privileged, ready=lambda text: print(text, flush=True))


def _cmd_deploy(args: argparse.Namespace) -> int:
    from embodied.ros.deploy import deploy

    loopback_only = True if args.loopback else (False if args.any_interface else None)
    cfg, summary = deploy(args.config, args.overrides, robot=args.robot, goals=args.goal, sim=args.sim,
                     episodes=args.episodes, bag=args.bag, domain_id=args.domain_id,
                     loopback_only=loopback_only, sim_rate=args.sim_rate)
    print(f"results: {cfg.run.output} ({summary['episodes']} episodes, {summary['failed']} failed)")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from embodied.evaluation import scaling

    return scaling.main(args.config, args.overrides, args.workers, args.backends)


def _add_job_command(sub: Any, name: str, help_text: str, func: Any) -> None:
    """`embodied train|eval SYSTEM CONFIG [key=value ...]` (one job file serves both)."""
    cmd = sub.add_parser(name, help=help_text)
    cmd.add_argument("system", metavar="SYSTEM", help=f"what to {name}: {', '.join(SYSTEMS)}")
    cmd.add_argument("config", metavar="CONFIG", help="job YAML file (e.g. experiments/csr_train.yaml)")
    cmd.add_argument("overrides", nargs="*", metavar="key=value",
                     help="dotted overrides, e.g. train.steps=100 eval.pairs=50")
    cmd.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate from main so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(prog="embodied", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run or resume an experiment")
    run.add_argument("config", metavar="CONFIG", help="experiment YAML file")
    run.add_argument("overrides", nargs="*", metavar="key=value",
                     help="dotted overrides, e.g. env.episodes=5 run.workers=2")
    run.set_defaults(func=_cmd_run)

    lst = sub.add_parser("list", help="registered envs, agents and localizers")
    lst.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="also import MODULE (registers components outside embodied)")
    lst.set_defaults(func=_cmd_list)

    show = sub.add_parser("show", help="print the summary table of a run")
    show.add_argument("run_dir", metavar="RUN_DIR")
    show.set_defaults(func=_cmd_show)

    episodes = sub.add_parser("episodes", help="episode datasets")
    ep_sub = episodes.add_subparsers(dest="episodes_command", required=True, metavar="ACTION")
    gen = ep_sub.add_parser("generate", help="write a split's episodes to a dataset JSON file")
    gen.add_argument("--env", required=True, metavar="ID")
    gen.add_argument("--split", required=True, metavar="NAME")
    gen.add_argument("--out", metavar="FILE", help="default: NAME.json")
    gen.add_argument("--episodes", type=int, metavar="N", help="the first N episodes (default: all)")
    gen.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")
    gen.add_argument("overrides", nargs="*", metavar="key=value", help="env settings, e.g. max_steps=200")
    gen.set_defaults(func=_cmd_generate)

    _add_job_command(sub, "train", "train a learned component (data rendering is cached)", _cmd_train)
    _add_job_command(sub, "eval", "evaluate what `embodied train` wrote, against an untrained baseline",
                     _cmd_eval)
    patch = sub.add_parser("patch", help="PAINT (patch a CLIP by weight interpolation) and model soups")
    patch.add_argument("config", metavar="CONFIG", help="job YAML file (e.g. experiments/paint_demo.yaml)")
    patch.add_argument("overrides", nargs="*", metavar="key=value",
                       help="dotted overrides, e.g. finetune.steps=100 max_supported_drop=null")
    patch.set_defaults(func=_cmd_patch)

    sim = sub.add_parser("ros-sim", help="serve an episode of the embedded world as a ROS 2 robot")
    sim.add_argument("config", metavar="CONFIG", help="experiment YAML whose env to serve (ObjectNav)")
    sim.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. env.split=test")
    sim.add_argument("--episode", type=int, default=0, metavar="N", help="episode index in the split")
    sim.add_argument("--rate", type=float, default=15.0, metavar="HZ", help="sensor publishing rate")
    sim.add_argument("--domain-id", type=int, default=None, metavar="ID", help="ROS_DOMAIN_ID (default: from the pid)")
    sim.add_argument("--privileged", action="store_true",
                     help="also publish the semantic and instance images (ground-truth localizers, oracles)")
    sim.add_argument("--any-interface", action="store_true",
                     help="do not restrict DDS to loopback (to reach RViz on another machine)")
    sim.set_defaults(func=_cmd_ros_sim)

    dep = sub.add_parser("deploy", help="run an experiment's agent on a ROS 2 robot (or on ros-sim)")
    dep.add_argument("config", metavar="CONFIG", help="experiment YAML whose agent to deploy")
    dep.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. env.episodes=2")
    dep.add_argument("--robot", metavar="FILE", help="YAML of robot settings: topics, limits, speeds")
    dep.add_argument("--goal", action="append", metavar="TEXT", help="an episode's goal (repeat for more)")
    dep.add_argument("--sim", action="store_true",
                     help="start embodied ros-sim on the experiment's env and run its episodes there")
    dep.add_argument("--episodes", type=int, metavar="N", help="the first N episodes")
    dep.add_argument("--bag", action="store_true", help="record the topics to a rosbag2 folder in the run")
    dep.add_argument("--domain-id", type=int, default=None, metavar="ID", help="ROS_DOMAIN_ID")
    where = dep.add_mutually_exclusive_group()
    where.add_argument("--loopback", action="store_true", help="keep DDS on 127.0.0.1 (default with --sim)")
    where.add_argument("--any-interface", action="store_true", help="reach a robot on the network (default without --sim)")
    dep.add_argument("--sim-rate", type=float, default=15.0, metavar="HZ", help="ros-sim's publishing rate")
    dep.set_defaults(func=_cmd_deploy)

    bench = sub.add_parser("bench", help="measure how a run scales with workers and backends")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    sc = bench_sub.add_parser("scaling", help="episodes/s, speed-up and efficiency for 1, 2, ... workers")
    sc.add_argument("config", metavar="CONFIG", help="experiment YAML (its episodes are run once per setting)")
    sc.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. env.episodes=40")
    sc.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N", help="worker counts (default 1 2)")
    sc.add_argument("--backends", nargs="+", default=["local", "ray"], metavar="NAME",
                    help="backends to measure (default local ray)")
    sc.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (0 ok, 2 config error, 1 failure)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        from embodied.runner import RunError

        if isinstance(exc, RunError):
            print(f"error: {exc}", file=sys.stderr)
        else:
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
