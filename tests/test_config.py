"""The run configuration, declared once (rtbench.config), and what is read off it: the options of
the commands, the results record, the comparability rule, the JSON Schema of results.json; and a
command line that answers without loading torch."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import typer
from typer.testing import CliRunner

from rtbench import config
from rtbench.cli import app
from rtbench.config import BenchError, Compare, RunConfig, TimingPlan
from rtbench.results import ResultsError, json_schema, load_runs, parse

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_every_setting_is_declared_with_help_and_a_comparison_tag():
    for name, model in config.fields():
        info = model.model_fields[name]
        assert info.description, name
        assert config.tag(name, model)["compare"] in {c.value for c in Compare}, name


@pytest.mark.parametrize("command", ["run", "compare", "baseline"])
def test_every_command_line_setting_is_an_option_of_the_measuring_commands(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name, model in config.fields():
        tags = config.tag(name, model)
        flag = tags["flag"] or "--" + name.replace("_", "-")
        assert (flag in result.output) == tags["cli"], (command, flag)


def test_a_sweep_takes_each_dimension_as_a_list():
    result = runner.invoke(app, ["sweep", "--help"], terminal_width=200)
    for flag in ("--sizes", "--batches", "--dtypes"):
        assert flag in result.output
    assert "--size " not in result.output and "--batch " not in result.output


def test_the_record_round_trips_and_older_records_load_as_what_they_measured():
    cfg = RunConfig(scope="encoder", size=64, runtimes=("eager", "onnxruntime"),
                    timing=TimingPlan(iters=7))  # fmt: skip
    record = cfg.record(threads=2)
    assert json.loads(json.dumps(record)) == record and record["threads"] == 2
    assert RunConfig.from_record(record) == cfg.with_(threads=2)
    # A record from before `breakdown`, `flops` and `timing` existed, with a retired key: the
    # settings added since take the values runs had before them.
    old = {"scope": "detector", "device": "cpu", "dtype": "fp32", "size": 256, "batch": 1,
           "deploy": False, "runtimes": ["eager"], "compile": False}  # fmt: skip
    loaded = RunConfig.from_record(old)
    assert (loaded.breakdown, loaded.flops, loaded.timing) == (False, True, TimingPlan())
    assert loaded.channels_last is False and loaded.threads is None
    assert loaded.base is None  # before --base, every run measured Table 3's RT-DETR-R50


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": 100}, "--size 100: must be a multiple of 32"),
        ({"timing": {"min_time_s": float("inf")}}, "--min-time inf: expected a finite number"),
        ({"runtimes": "eager,eager"}, "--runtime: eager,eager: a runtime is named twice"),
        ({"device": "tpu"}, "--device: unknown device 'tpu'"),
        ({"dtype": "fp8"}, "--dtype: unknown dtype 'fp8'; choose from fp32, fp16, bf16"),
        ({"colour": "red"}, "colour: unknown field; valid fields: scope, device"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_flag(values, message):
    with pytest.raises(BenchError) as err:
        RunConfig.make(values)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_runtime_names_checked_before_torch_are_the_registrys_in_order():
    from rtbench.runtimes import RUNTIMES

    assert tuple(RUNTIMES) == config.RUNTIME_NAMES
    # A record may name a runtime this version lacks (another version wrote it): it still loads.
    record = {**RunConfig().record(), "runtimes": ["tvm"]}
    assert RunConfig.from_record(record).runtimes == ("tvm",)
    with pytest.raises(BenchError, match=r"^--runtime: unknown runtime 'tvm'; choose from eager,"):
        RunConfig.make({"runtimes": "tvm"})


def test_export_takes_the_declared_options_of_what_it_exports():
    command = typer.main.get_command(app).commands["export"]
    params = {param.name: param for param in command.params}
    for name in ("scope", "size", "batch", "seed", "deploy", "base"):
        assert params[name].help == RunConfig.model_fields[name].description, name
        assert params[name].default == RunConfig.model_fields[name].default, name
    assert "device" not in params and "iters" not in params  # an export runs nothing


def test_a_baseline_refuses_no_flops_in_one_line(tmp_path):
    result = runner.invoke(app, ["baseline", "--no-flops", "--out", str(tmp_path / "b.json")])
    assert result.exit_code == 1 and not (tmp_path / "b.json").exists()
    assert result.stderr.strip() == ("error: --no-flops: a baseline counts FLOPs (the gate "
                                     "compares GMACs); drop it")  # fmt: skip


def test_the_comparability_rule_is_read_off_the_tags():
    a = RunConfig(device="cpu").record(threads=2)
    b = RunConfig(device="cuda", size=320, seed=3, threads=4, timing=TimingPlan(iters=5)).record()
    assert config.differences(a, b, Compare.WORK) == [("size", 640, 320)]
    assert config.differences(a, b, Compare.PLACE) == [("device", "cpu", "cuda")]
    assert config.differences(a, b, Compare.NOTE) == [("threads", 2, 4)]
    assert {name for name, *_ in config.differences(a, b, Compare.FREE)} == {"seed", "iters"}
    # The base is part of the work measured: E on R18 is not E on R50 (the gate, the history)
    on_r18 = RunConfig(device="cpu", base="rtdetr-r18").record(threads=2)
    assert config.differences(a, on_r18, Compare.WORK) == [("base", None, "rtdetr-r18")]


def test_the_committed_json_schema_is_the_models_and_validates_our_files():
    committed = json.loads((REPO / "docs" / "results.schema.json").read_text())
    assert committed == json_schema(), "docs/results.schema.json is stale: run `make schema`"
    runs = json.loads((REPO / "results" / "baseline-cpu.json").read_text())["runs"]  # a run set
    for run in runs:  # another validator than ours accepts each of our runs
        jsonschema.validate(run, committed)
    runs[0]["rows"][0]["latency_samples_ms"][0] = -1.0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(runs[0], committed)


def test_a_version_2_file_loads_as_version_3_and_an_unknown_version_is_refused():
    # a run of the committed baseline as rtbench wrote it on 6 December 2026, in /2
    fixture = Path(__file__).parent / "data" / "results-v2.json"
    run = load_runs(fixture)[0]
    old = json.loads(fixture.read_text())
    assert old["schema"] == "rtbench.results/2" and "run_time" not in old
    assert run["schema"] == "rtbench.results/3"
    assert run["rows"] == old["rows"]  # nothing measured is changed on the way
    assert all("forward_timed" not in r for r in run["rows"])  # timed separately, as /2 did
    with pytest.raises(ResultsError, match="schema is 'rtbench.results/9', expected one of"):
        parse({**old, "schema": "rtbench.results/9"})


PROBE = """
import sys
from rtbench.cli import app
try:
    app({args!r}, prog_name="rtbench")
except SystemExit:
    pass
print(sorted(m for m in ("torch", "matplotlib", "scipy", "pandas", "duckdb", "plotly", "ruptures")
             if m in sys.modules))
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["run", "--help"], ["sweep", "--help"], ["history", "--help"], ["list"]]
)
def test_the_command_line_answers_without_torch_or_matplotlib(args):
    probe = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True,
                           text=True, cwd=REPO, timeout=60, check=True)  # fmt: skip
    assert probe.stdout.strip().splitlines()[-1] == "[]", probe.stdout[-500:]


def test_a_sweep_job_does_not_load_the_reports():
    # every job of a sweep imports rtbench.sweep.point (and the runner): no matplotlib, no pandas
    code = ("import sys, rtbench.sweep.point; "
            "print(sorted(m for m in ('matplotlib', 'pandas') if m in sys.modules))")  # fmt: skip
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=REPO, timeout=60, check=True)  # fmt: skip
    assert probe.stdout.strip() == "[]"
