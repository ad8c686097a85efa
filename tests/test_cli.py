"""Every command through typer's CliRunner: exit codes, output, files, and each error path."""

import json
import os

import pytest
import torch
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.results import SCHEMA

runner = CliRunner()
FAST = ["--scope", "encoder", "--size", "64", "--iters", "3", "--warmup", "1",
        "--min-time", "0.05", "--device", "cpu", "--no-plots"]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.output


def test_list_shows_every_variant_by_group():
    result = invoke("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    headings = [i for i, line in enumerate(lines) if line.startswith("# ")]
    assert headings == [0, 7, 9]  # the Table 3 rows, then each subfolder: dfine/, family/
    assert [line.split()[0] for line in lines[1:7]] == ["A", "B", "C", "D", "Ds5", "E"]
    assert lines[8].split()[0] == "E-elan"
    family = [line.split()[0] for line in lines[10:]]
    assert family == ["rtdetr-l", "rtdetr-r18", "rtdetr-r34", "rtdetr-r50", "rtdetr-r50m",
                      "rtdetr-r101", "rtdetr-x"]  # fmt: skip


def test_show_prints_spec_and_parts():
    result = invoke("show", "E")
    assert result.exit_code == 0, result.output
    assert "mode: per_level" in result.output and "type: ccff" in result.output
    assert "11,950,848" in result.output  # encoder total
    assert "Paper (Table 3): AP 47.9" in result.output


def test_show_a_family_model_and_a_design_on_a_base():
    result = invoke("show", "rtdetr-r18")
    assert result.exit_code == 0, result.output
    assert "11,199,968" in result.output  # PResNet-18-vd, its norms trained (tests/test_family.py)
    assert "Paper (family, published): AP 46.5, #Params 20M, 60 GFLOPs" in result.output
    on_base = invoke("show", "A", "--base", "rtdetr-r18", "--no-detector")
    assert on_base.exit_code == 0, on_base.output
    assert "base: rtdetr-r18" in on_base.output and "230,912" in on_base.output  # 1x1s to 256
    out = one_line_error(invoke("show", "A", "--base", "nope"))
    assert "unknown base 'nope'" in out


def test_compare_on_a_base_records_it(tmp_path):
    result = invoke("compare", "A", "E", *FAST, "--base", "rtdetr-r18", "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["config"]["base"] == "rtdetr-r18"
    assert [(r["variant"], r["base"]) for r in doc["rows"]] == [("A", "rtdetr-r18"),
                                                               ("E", "rtdetr-r18")]  # fmt: skip
    assert doc["rows"][0]["params"] == 128 * 256 + 256 * 256 + 512 * 256 + 3 * 2 * 256
    assert "base rtdetr-r18, " in result.output and "on on" not in result.output


def test_compare_subset_writes_the_three_files(tmp_path):
    result = invoke("compare", "A", "E", "Ds5", *FAST, "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    assert {p.name for p in run_dir.iterdir()} >= {"results.json", "table3.md", "table3.csv"}
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["schema"] == SCHEMA and doc["run_id"] == run_dir.name
    assert [r["variant"] for r in doc["rows"]] == ["A", "E", "Ds5"]
    assert doc["config"]["runtimes"] == ["eager"]
    for row in doc["rows"]:
        assert row["status"] == "ok" and row["latency_samples"] == 3
        assert row["runtime"] == "eager" and row["runtime_settings"]["version"] == torch.__version__
        assert row["latency_median_ms"] > 0 and row["gflops"] == pytest.approx(2 * row["gmacs"])
    assert doc["environment"]["threads"] == torch.get_num_threads()
    assert doc["load"]["cpu_count"] == os.cpu_count() and doc["load"]["calibration_drift"] > 0
    assert doc["config"]["size"] == 64 and doc["calibration"]["name"]
    assert "| E |" in (run_dir / "table3.md").read_text()
    assert (run_dir / "table3.csv").read_text().startswith("variant,paper_ap,params_m")
    assert (run_dir / "table3.tex").read_text().startswith("% rtbench: Table 3 mirror")
    assert "Table 3 mirror" in result.output


def test_run_one_variant_with_user_folder(tmp_path):
    variants = tmp_path / "variants"
    variants.mkdir()
    (variants / "S45.yaml").write_text(
        "description: AIFI on S4 and S5 with CCFF\n"
        "intra: {mode: per_level, levels: [S4, S5]}\nfusion: {type: ccff}\n"
    )
    listed = invoke("list", "--variants-dir", variants)
    assert listed.output.split()[0] == "S45"
    result = invoke("run", "--variant", "S45", *FAST, "--variants-dir", variants,
                    "--results-dir", tmp_path / "out", "--run-id", "mine")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "mine" / "results.json").read_text())
    assert doc["rows"][0]["variant"] == "S45" and doc["rows"][0]["paper_ap"] is None


def test_existing_run_folder_is_never_overwritten(tmp_path):
    (tmp_path / "same").mkdir()
    (tmp_path / "same" / "results.json").write_text("{}")
    result = invoke("run", "-v", "A", *FAST, "--results-dir", tmp_path, "--run-id", "same")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "same" / "results.json").read_text() == "{}"
    assert json.loads((tmp_path / "same-2" / "results.json").read_text())["run_id"] == "same-2"


def test_unknown_variant(tmp_path):
    out = one_line_error(invoke("run", "-v", "F", *FAST, "--results-dir", tmp_path))
    assert "unknown variant 'F'; valid names: A, B, C, D, Ds5, E" in out
    assert not list(tmp_path.iterdir())


def test_malformed_spec(tmp_path):
    (tmp_path / "bad.yaml").write_text("description: [oops\n")
    out = one_line_error(invoke("list", "--variants-dir", tmp_path))
    assert "bad.yaml: malformed YAML" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(tmp_path):
    out = one_line_error(invoke("run", "-v", "E", "--device", "cuda", "--results-dir", tmp_path))
    assert "CUDA was asked for but no CUDA GPU is available" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "100"], "multiple of 32"),
        (["--scope", "detector", "--size", "96"], "too small at detector scope"),
        (["--dtype", "fp64"], "unknown dtype 'fp64'"),
        (["--scope", "backbone"], "unknown scope"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--runtime", "cuda-graphs"], "runtime cuda-graphs runs on cuda, not cpu"),
        (["--runtime", "tvm"], "unknown runtime 'tvm'; choose from eager, compile, cuda-graphs"),
        (["--runtime", "eager,eager"], "a runtime is named twice"),
        (["--runtime", ","], "--runtime: give at least 1 value"),
        (["--iters", "0"], "--iters 0: must be at least 1"),
        (["--seed", "-1"], "--seed -1: must be at least 0"),
        (["--min-time", "nan"], "--min-time nan: expected a finite number"),
        (["--run-id", "../escape"], "must be a plain folder name"),
    ],
)
def test_bad_options(tmp_path, args, message):
    opts = [a for a in FAST if a not in ("--scope", "encoder", "--size", "64")]
    out = one_line_error(invoke("run", "-v", "A", *opts, "--scope", "encoder", "--size", "64",
                                *args, "--results-dir", tmp_path))  # fmt: skip
    assert message in out


def test_out_of_memory_in_one_variant_keeps_the_others(tmp_path):
    variants = tmp_path / "variants"
    variants.mkdir()
    for name, ffn in (("Small", 64), ("Huge", 2**31 - 1), ("Also", 128)):  # Huge: a 2 TiB FFN
        (variants / f"{name}.yaml").write_text(
            f"description: {name}\nintra: {{mode: per_level, levels: [S5], ffn_dim: {ffn}}}\n"
        )
    result = invoke("compare", *FAST, "--variants-dir", variants,
                    "--results-dir", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 1
    assert "1 of 3 rows failed (Huge (eager): out of memory:" in result.output
    doc = json.loads(next((tmp_path / "out").iterdir()).joinpath("results.json").read_text())
    status = {r["variant"]: r["status"] for r in doc["rows"]}
    assert status == {"Also": "ok", "Huge": "error", "Small": "ok"}
    assert all(r["latency_median_ms"] > 0 for r in doc["rows"] if r["status"] == "ok")


def test_detector_scope_deploy_form(tmp_path):
    args = ["--scope", "detector", "--size", "128", "--iters", "2", "--warmup", "1",
            "--min-time", "0.05", "--device", "cpu", "--no-plots"]  # fmt: skip
    result = invoke("compare", "E", *args, "--deploy", "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "deploy form (BN folded, RepVGG fused)" in result.output
    doc = json.loads(next(tmp_path.iterdir()).joinpath("results.json").read_text())
    (row,) = doc["rows"]
    assert row["form"] == "deploy" and row["scope"] == "detector"
    assert row["params"] < 42_891_372  # fused RepVGG branches
    assert set(row["params_parts"]) == {"backbone", "input_proj", "intra", "fusion", "decoder"}
    assert abs(row["flops_crosscheck_diff_pct"]) < 1.0
    # a detector row has its end-to-end latency too, timed in the same rounds, and the card
    e2e = row["latency_end_to_end"]
    assert e2e["samples"] == 2 and len(e2e["samples_ms"]) == 2 and e2e["normalized"] > 0
    assert "End-to-end latency: a 1280x720 uint8 frame" in doc["protocol"]["card"]
    assert "Protocol. Forward latency: the detector alone" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("options", "config"),
    [
        (
            ["--dtype", "bf16", "--channels-last", "--allow-emulated"],
            {"dtype": "bf16", "channels_last": True, "allow_emulated": True},
        ),
        (["--runtime", "compile", "--no-flops"], {"runtimes": ["compile"], "flops": False}),
    ],
)
def test_gpu_options_run_on_the_cpu(tmp_path, options, config):
    result = invoke("run", "-v", "A", *FAST, *options, "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    doc = json.loads(next(tmp_path.iterdir()).joinpath("results.json").read_text())
    assert doc["rows"][0]["status"] == "ok" and doc["rows"][0]["latency_median_ms"] > 0
    assert {key: doc["config"][key] for key in config} == config
    assert (doc["rows"][0].get("gmacs") is None) == (not config.get("flops", True))


def test_variant_for_another_backbone_runs_at_encoder_scope_only(tmp_path):
    variants = tmp_path / "variants"
    variants.mkdir()
    (variants / "R18.yaml").write_text(
        "description: smaller backbone maps\nin_channels: [128, 256, 512]\n"
        "intra: {mode: per_level, levels: [S5]}\nfusion: {type: ccff}\n"
    )
    encoder = invoke("run", "-v", "R18", *FAST, "--variants-dir", variants,
                     "--results-dir", tmp_path / "out")  # fmt: skip
    assert encoder.exit_code == 0, encoder.output
    out = one_line_error(invoke("show", "R18", "--variants-dir", variants))
    assert "in_channels: [128, 256, 512] do not match the backbone's" in out
    assert invoke("show", "R18", "--no-detector", "--variants-dir", variants).exit_code == 0
