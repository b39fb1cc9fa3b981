"""Config loading: overrides coerced to the annotated types, errors that name the key and the fix."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from embodied import registry
from embodied.cli import main
from embodied.config import (AgentConfig, ConfigError, EnvConfig, RunConfig, config_diff, dump_yaml,
                             from_dict, load_config, to_dict)
from tests.conftest import TOY_YAML, write_yaml
from tests.toy import ToyAgentConfig, ToyExactConfig, ToyNoisyConfig, ToyWalkConfig, ToyWalkEnv


def error_of(path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    message = str(info.value)
    assert "\n" not in message, "a config error is one line"
    return message


def test_yaml_is_validated_into_the_registered_classes(toy_yaml: Path) -> None:
    cfg = load_config(toy_yaml)
    assert type(cfg.env) is ToyWalkConfig and type(cfg.agent) is ToyAgentConfig
    assert type(cfg.agent.localizer) is ToyExactConfig  # the agent config's default
    assert cfg.env.split == "val" and cfg.env.episodes is None and cfg.env.max_steps == 40
    assert cfg.run == RunConfig(output=str(toy_yaml.parent / "out"), progress=False, imports=["tests.toy"])


def test_name_and_output_default_from_the_file(tmp_path: Path) -> None:
    data = {k: v for k, v in TOY_YAML.items() if k != "name"}
    cfg = load_config(write_yaml(tmp_path / "my_exp.yaml", data))
    assert cfg.name == "my_exp"
    assert cfg.run.output == str(Path("runs") / "my_exp")


def test_overrides_are_coerced_to_the_annotated_types(toy_yaml: Path) -> None:
    cfg = load_config(toy_yaml, [
        "env.episodes=5", "agent.epsilon=1", "run.save_video=true", "name=007", "run.workers=2",
        "env.fail_on=[val-001, val-002]", "env.slip_range=[0, 0.5]", "env.mode=hop",
        "env.marker_dir=/tmp/m", "env.step_delay=0.25", "run.device=cuda:0",
    ])
    assert cfg.env.episodes == 5 and type(cfg.env.episodes) is int
    assert cfg.agent.epsilon == 1.0 and type(cfg.agent.epsilon) is float  # an int is a valid float
    assert cfg.run.save_video is True and cfg.run.workers == 2
    assert cfg.name == "007"  # a str field keeps the text as typed, not yaml's int 7
    assert cfg.env.fail_on == ["val-001", "val-002"]
    assert cfg.env.slip_range == (0.0, 0.5) and type(cfg.env.slip_range) is tuple
    assert cfg.env.mode == "hop" and cfg.env.marker_dir == "/tmp/m" and cfg.run.device == "cuda:0"
    assert load_config(toy_yaml, ["env.episodes=null"]).env.episodes is None


def test_unknown_key_names_the_path_and_suggests(toy_yaml: Path) -> None:
    msg = error_of(toy_yaml, "env.episods=5")
    assert msg.startswith("env.episods: unknown key")
    assert "did you mean 'episodes'?" in msg
    assert "max_steps" in msg  # lists the valid keys of ToyWalkConfig


def test_unknown_section_in_the_file_suggests(tmp_path: Path) -> None:
    data = dict(TOY_YAML, agnet={"id": "toy_greedy"})
    msg = error_of(write_yaml(tmp_path / "x.yaml", data))
    assert msg.startswith("agnet: unknown key") and "did you mean 'agent'?" in msg


@pytest.mark.parametrize("override, expected", [
    ("env.episodes=five", "env.episodes: expected int | null, got 'five' (str)"),
    ("run.workers=1.5", "run.workers: expected int, got 1.5 (float)"),
    ("run.save_video=2", "run.save_video: expected bool, got 2 (int)"),
    ("agent.epsilon=high", "agent.epsilon: expected float, got 'high' (str)"),
    ("env.slip_range=[0.1]", "env.slip_range: expected tuple[float, float], got [0.1] (list) (1 items, expected 2)"),
    ("env.fail_on=val-001", "env.fail_on: expected list[str], got 'val-001' (str)"),
    ("env.fail_on=[a, [2]]", "env.fail_on[1]: expected str, got [2] (list)"),
    ("env.mode=hopp", "env.mode: expected one of 'walk', 'hop', got 'hopp' (str); did you mean 'hop'?"),
    ("agent.localizer=3", "agent.localizer: expected a section (LocalizerConfig), got 3 (int)"),
])
def test_bad_types_name_key_value_and_expectation(toy_yaml: Path, override: str, expected: str) -> None:
    assert error_of(toy_yaml, override).startswith(expected)


def test_range_checks_of_config_classes_name_the_key(toy_yaml: Path) -> None:
    assert error_of(toy_yaml, "run.workers=0") == "run.workers: expected an integer >= 1, got 0"
    assert error_of(toy_yaml, "env.max_steps=0") == "env.max_steps: expected a positive integer, got 0"


def test_missing_file_and_invalid_yaml(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.yaml") == f"config file {str(tmp_path / 'nope.yaml')!r} not found"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenv: {id: a\n")
    assert "invalid YAML at line" in error_of(bad)


def test_missing_section_and_required_value(tmp_path: Path) -> None:
    data = {k: v for k, v in TOY_YAML.items() if k != "agent"}
    assert error_of(write_yaml(tmp_path / "a.yaml", data)).startswith("agent: missing required value")
    data = dict(TOY_YAML, agent={"epsilon": 0.5})
    msg = error_of(write_yaml(tmp_path / "b.yaml", data))
    assert msg.startswith("agent.id: missing") and "toy_greedy" in msg


def test_unknown_ids_list_the_registered_ones(toy_yaml: Path) -> None:
    msg = error_of(toy_yaml, "env.id=embodied/ToyWalk-v9")
    assert msg.startswith("env.id: unknown env id 'embodied/ToyWalk-v9'")
    assert "did you mean 'embodied/ToyWalk-v0'" in msg and "? Registered envs: " in msg
    msg = error_of(toy_yaml, "agent.localizer.id=clipp")
    assert msg.startswith("agent.localizer.id: unknown localizer id 'clipp'")
    assert "toy_exact" in msg and "toy_noisy" in msg


def test_nested_section_is_dispatched_by_its_id(toy_yaml: Path) -> None:
    cfg = load_config(toy_yaml, ["agent.localizer.id=toy_noisy", "agent.localizer.offset=3"])
    assert cfg.agent.localizer == ToyNoisyConfig(offset=3)
    # Keys of another localizer are rejected, naming the class that validated the section.
    msg = error_of(toy_yaml, "agent.localizer.offset=3")
    assert msg.startswith("agent.localizer.offset: unknown key") and "ToyExactConfig" in msg


def test_an_optional_nested_section_is_dispatched_too(toy_yaml: Path) -> None:
    assert load_config(toy_yaml).agent.fallback is None
    assert load_config(toy_yaml, ["agent.fallback.id=toy_noisy"]).agent.fallback == ToyNoisyConfig()
    msg = error_of(toy_yaml, "agent.fallback.id=toy_noisy", "agent.fallback.offst=2")
    assert msg.startswith("agent.fallback.offst: unknown key; did you mean 'offset'?")
    assert error_of(toy_yaml, "agent.fallback=3").startswith(
        "agent.fallback: expected a section (LocalizerConfig) | null, got 3 (int)")


def test_switching_an_id_drops_the_file_keys_of_the_old_class(tmp_path: Path) -> None:
    data = dict(TOY_YAML, agent={"id": "toy_greedy", "localizer": {"id": "toy_noisy", "offset": 2}})
    path = write_yaml(tmp_path / "x.yaml", data)
    assert load_config(path).agent.localizer == ToyNoisyConfig(offset=2)
    assert load_config(path, ["agent.localizer.id=toy_exact"]).agent.localizer == ToyExactConfig()
    # ...but a key given on the command line is always checked.
    assert error_of(path, "agent.localizer.id=toy_exact", "agent.localizer.offset=1").startswith(
        "agent.localizer.offset: unknown key")
    # A partial nested override keeps the file's id and its other values.
    cfg = load_config(path, ["agent.localizer.threshold=0.7"])
    assert cfg.agent.localizer == ToyNoisyConfig(offset=2, threshold=0.7)


def test_override_syntax_errors(toy_yaml: Path) -> None:
    assert "expected key=value" in error_of(toy_yaml, "env.episodes")
    assert error_of(toy_yaml, "env.split.name=x").startswith("env.split: cannot set env.split.name")


def test_dumped_config_round_trips(toy_yaml: Path) -> None:
    cfg = load_config(toy_yaml, ["agent.localizer.id=toy_noisy", "env.slip_range=[0.1, 0.2]"])
    text = dump_yaml(cfg, toy_yaml.parent / "resolved.yaml")
    again = from_dict(yaml.safe_load((toy_yaml.parent / "resolved.yaml").read_text()))
    assert again == cfg and text.startswith("name: toy\nenv:\n  id: embodied/ToyWalk-v0\n")
    assert config_diff(to_dict(cfg), to_dict(dataclasses.replace(cfg, name="other"))) == ["name: 'toy' -> 'other'"]


def test_list_episodes_truncates_and_checks(toy_yaml: Path, tmp_path: Path) -> None:
    assert [e["episode_id"] for e in registry.list_episodes(load_config(toy_yaml, ["env.episodes=3"]).env)] == [
        "val-000", "val-001", "val-002"]
    with pytest.raises(ConfigError, match=r"^env.episodes: asked for 99 episodes, but split 'val' has 12"):
        registry.list_episodes(load_config(toy_yaml, ["env.episodes=99"]).env)
    with pytest.raises(ConfigError, match=r"^env.episodes: expected a positive integer"):
        registry.list_episodes(load_config(toy_yaml, ["env.episodes=0"]).env)
    with pytest.raises(ConfigError, match=r"^env.split: unknown split 'nope'"):
        registry.list_episodes(load_config(toy_yaml, ["env.split=nope"]).env)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"episodes": [')
    with pytest.raises(ConfigError, match=r"^env.split: .*corrupt.json' is not a ToyWalk dataset"):
        registry.list_episodes(load_config(toy_yaml, [f"env.split={corrupt}"]).env)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"episodes": [{"episode_id": "a", "goal": 2}] * 2}))
    with pytest.raises(ConfigError, match=r"^env.split: .* repeats episode_id 'a'"):
        registry.list_episodes(load_config(toy_yaml, [f"env.split={dup}"]).env)


def test_registry_rejects_conflicts_and_wrong_config_classes() -> None:
    class Other:
        pass

    with pytest.raises(ValueError, match="already registered to tests.toy.ToyAgent"):
        registry.register_agent("toy_greedy", Other, ToyAgentConfig)
    with pytest.raises(TypeError, match="must subclass AgentConfig"):
        registry.register_agent("toy_other", Other, ToyWalkConfig)
    registry.register_agent("toy_greedy", registry.get("agent", "toy_greedy").cls, ToyAgentConfig)  # same: ok
    assert registry.get("env", "embodied/ToyWalk-v0").cls is ToyWalkEnv
    assert {"toy_exact", "toy_noisy"} <= set(registry.ids("localizer"))
    assert issubclass(ToyWalkConfig, EnvConfig) and issubclass(ToyAgentConfig, AgentConfig)


def test_a_worker_imports_only_the_modules_that_register_what_it_uses(toy_yaml: Path) -> None:
    assert registry.modules_for(load_config(toy_yaml)) == ["tests.toy"]


def test_cli_config_errors_exit_2_with_one_line(toy_yaml: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", str(toy_yaml), "env.episods=5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: env.episods: unknown key")
    assert "Traceback" not in err
    assert main(["run", str(toy_yaml.parent / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (toy_yaml.parent / "out").exists()  # nothing started
