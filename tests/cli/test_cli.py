"""The command line: bad arguments exit 2 naming the field; compare, show and the shared runs folder."""

import subprocess
import sys

import pytest
from conftest import ROOT, tiny_cli

from mamlviz import records


def _cli(*args, cwd=ROOT, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mamlviz", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args,words",
    [
        (["compare", "--inner-lr", "-1"], "inner_lr"),
        (["compare", "--n-way", "abc"], "invalid int"),
        (["compare", "--tasks", "4", "--meta-batch", "8"], "train_tasks"),
        (["compare", "--device", "tpu"], "device"),
        (["nonsense"], "invalid choice"),
        (["sweep", "--steps", "0,3"], "steps"),
        (["data", "build", "--from", "/nonexistent/folder"], "--from"),
    ],
)
def test_cli_bad_arguments_exit_2_with_a_message(args, words):
    r = _cli(*args)
    assert r.returncode == 2 and words in r.stderr, r.stderr


def test_cli_show_rejects_a_corrupt_record(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    r = _cli("show", str(bad))
    assert r.returncode == 2 and "schema" in r.stderr


def test_cli_compare_runs_prints_summary_and_writes_record(tmp_path):
    out = tmp_path / "run.json"
    r = _cli("compare", *tiny_cli(train_tasks=8, eval_tasks=10, eval_inner_steps=1), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "recommendation:" in r.stdout and "MAML" in r.stdout and "FOMAML" in r.stdout
    assert "MAML" in r.stderr and "it" in r.stderr  # tqdm bars
    rec = records.load(out)
    assert rec["config"]["train_tasks"] == 8
    shown = _cli("show", str(out))
    assert shown.returncode == 0 and "test accuracy" in shown.stdout


def test_cli_and_dashboard_share_one_runs_folder(tmp_path, monkeypatch):
    from mamlviz import paths

    monkeypatch.delenv("MAMLVIZ_RUNS_DIR", raising=False)
    assert paths.runs_dir() == ROOT / "runs"  # the same folder wherever the command starts
    runs = tmp_path / "elsewhere-runs"
    env = {**__import__("os").environ, "MAMLVIZ_RUNS_DIR": str(runs)}
    r = _cli("compare", *tiny_cli(train_tasks=4, eval_tasks=10), "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    saved = list(runs.glob("*.json"))
    assert len(saved) == 1 and not (tmp_path / "runs").exists()
    assert records.load(saved[0])["setup"]["launched_from"] == "cli"
    monkeypatch.setenv("MAMLVIZ_RUNS_DIR", str(runs))
    assert paths.runs_dir() == runs


def test_flags_left_out_take_what_start_runs_on_the_device():
    """No flags: the dashboard's default for the device (the quick CPU config on a CPU, the paper's on a GPU);
    given flags win; an optional field's 0 means none; --help names both defaults where they differ."""
    import torch

    from mamlviz import cli, presets

    def config(*args):
        return cli._config(cli.build_parser().parse_args(["compare", *args]))

    here = presets.default_for(torch.cuda.is_available()).to_dict()
    assert config().to_dict() == {**here, "device": "auto"}
    assert config("--device", "cpu").to_dict() == presets.CPU_QUICK.to_dict()
    gpu = config("--device", "cuda", "--meta-batch", "8", "--time-budget", "0")
    assert gpu.k_query == presets.PAPER_5WAY_1SHOT.k_query and gpu.meta_batch == 8 and gpu.time_budget_s is None
    assert config("--inner-steps", "3").to_dict() == {**here, "device": "auto", "inner_steps": 3}
    text = cli.build_parser()._subparsers._group_actions[0].choices["compare"].format_help()
    assert "default 2 on CPU, 32 on a GPU" in " ".join(text.split())
