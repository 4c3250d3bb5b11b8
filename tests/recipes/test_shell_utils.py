"""Tests for the Kaldi-style recipe shell tools in recipes/utils/, run through bash."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[2] / "recipes" / "utils"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``bash ARGS...`` in ``cwd`` and returns the finished process with text output."""
    return subprocess.run(
        ["bash", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


def read_log(path: Path) -> list[str]:
    return path.read_text().splitlines()


# --------------------------------------------------------------------------- parse_options.sh

DEMO = """\
set -euo pipefail
stage=0
stop_stage=100
use_gpu=false
name=
{help}
. "{utils}/parse_options.sh"
echo "stage=$stage stop_stage=$stop_stage use_gpu=$use_gpu name=$name"
echo "n=$# args=$*"
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    script = tmp_path / "demo.sh"
    help_line = 'help_message="Usage: demo.sh [options] <dir>"'
    script.write_text(DEMO.format(utils=UTILS, help=help_line))
    return script


@pytest.mark.parametrize("flag", ["--stop-stage", "--stop_stage"])
def test_parse_options_dashes_and_underscores_are_the_same(demo: Path, flag: str) -> None:
    result = run([str(demo), "--stage", "2", flag, "3", "--name", "a b"], demo.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "stage=2 stop_stage=3 use_gpu=false name=a b",
        "n=0 args=",
    ]


def test_parse_options_positional_arguments_remain(demo: Path) -> None:
    result = run([str(demo), "--stage", "1", "data/train", "--stage", "5"], demo.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "stage=1 stop_stage=100 use_gpu=false name=",
        "n=3 args=data/train --stage 5",
    ]


def test_parse_options_sets_empty_value(demo: Path) -> None:
    result = run([str(demo), "--stop-stage", ""], demo.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "stage=0 stop_stage= use_gpu=false name="


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-such-thing", "1"], "parse_options.sh: invalid option --no-such-thing"),
        (["--bad.name", "1"], "parse_options.sh: invalid option --bad.name"),
        (["--use-gpu", "yes"], "takes true or false, got 'yes'"),
        (["--stage=3"], "write it as '--stage 3'"),
        (["--stage"], "missing value for option --stage"),
        (["--config", "missing.conf"], "config file 'missing.conf' not found"),
    ],
)
def test_parse_options_errors_exit_1(demo: Path, args: list[str], message: str) -> None:
    result = run([str(demo), *args], demo.parent)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_parse_options_boolean_accepts_true_and_false(demo: Path) -> None:
    result = run([str(demo), "--use-gpu", "true"], demo.parent)
    assert result.returncode == 0, result.stderr
    assert "use_gpu=true" in result.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_parse_options_help_prints_help_message(demo: Path, flag: str) -> None:
    result = run([str(demo), "--stage", "1", flag], demo.parent)
    assert result.returncode == 0
    assert result.stderr.startswith("Usage: demo.sh [options] <dir>\nOptions, as --name value")
    assert result.stdout == ""


def test_parse_options_help_lists_every_option_with_its_default(demo: Path) -> None:
    result = run([str(demo), "--help"], demo.parent)
    options = re.findall(r"^  --(\S+) +\[(.*?)\]", result.stderr, flags=re.M)
    assert options == [("stage", "0"), ("stop-stage", "100"), ("use-gpu", "false"), ("name", "")]


@pytest.mark.parametrize("recipe", ["toy", "gtzan", "mtat"])
def test_every_recipe_help_lists_all_its_options(recipe: str) -> None:
    """One help text for all recipes: each variable a recipe declares is listed with its
    default, and the usage line advertises --train-config (not --config, which sources shell)."""
    folder = UTILS.parents[1] / "egs" / recipe / "v1"
    result = run(["run.sh", "--help"], folder)
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^  --(\S+) +\[(.*?)\]", result.stderr, flags=re.M))
    script = (folder / "run.sh").read_text().split(". utils/parse_options.sh")[0]
    declared = re.findall(r"^([a-z][a-z0-9_]*)=", script, flags=re.M)
    assert [n.replace("_", "-") for n in declared if n != "help_message"] == list(listed)
    # The toy recipe (make demo) trains two levels by default, the real corpora one.
    expected = {"toy": "conf/train_renderer_demo.yaml"}.get(recipe, "conf/train.yaml")
    assert listed["train-config"] == expected and "[--train-config FILE]" in result.stderr
    assert listed["planner-config"] == ("conf/train_planner_demo.yaml" if recipe == "toy"
                                        else "")
    assert "[--config FILE]" not in result.stderr


@pytest.mark.parametrize("name", ["train.yaml", "x.yml", "conf/t.YAML"])
def test_parse_options_refuses_a_yaml_config(demo: Path, name: str) -> None:
    cfg = demo.parent / name
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text("sample_rate: 8000\n")
    result = run([str(demo), "--config", str(cfg)], demo.parent)
    assert result.returncode == 1
    assert "--config takes a shell file" in result.stderr and "--train-config" in result.stderr
    assert "command not found" not in result.stderr


def test_parse_options_help_without_help_message(tmp_path: Path) -> None:
    script = tmp_path / "bare.sh"
    script.write_text(DEMO.format(utils=UTILS, help=""))
    result = run([str(script), "--help"], tmp_path)
    assert result.returncode == 0
    assert result.stderr.startswith("Usage: ")
    assert result.stdout == ""


def test_parse_options_config_is_sourced_first(demo: Path) -> None:
    (demo.parent / "my.conf").write_text("stage=7\nstop_stage=8\nuse_gpu=true\n")
    # --config comes after --stage, yet --stage still overrides what the config sets.
    result = run([str(demo), "--stage", "1", "--config", "my.conf", "x"], demo.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "stage=1 stop_stage=8 use_gpu=true name=",
        "n=1 args=x",
    ]


def test_parse_options_leaves_no_internal_variables(tmp_path: Path) -> None:
    script = tmp_path / "vars.sh"
    script.write_text(
        f'set -euo pipefail\nstage=0\n. "{UTILS}/parse_options.sh"\n'
        "compgen -A variable -A function __po_ || true\n"
    )
    result = run([str(script), "--stage", "1"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- run.sh


def test_run_substitutes_job_in_log_and_command(tmp_path: Path) -> None:
    args = ["JOB=1:3", "exp/log/hello.JOB.log", "echo", "job", "JOB"]
    result = run([str(UTILS / "run.sh"), *args], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for job in (1, 2, 3):
        lines = read_log(tmp_path / f"exp/log/hello.{job}.log")
        assert lines[0] == f"# echo job {job}"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"job {job}"
        assert re.fullmatch(r"# Accounting: time=\d+ threads=1", lines[3])
        assert re.fullmatch(r"# Ended \(code 0\) at .+", lines[4])
        assert len(lines) == 5


def test_run_without_range_runs_once_unsubstituted(tmp_path: Path) -> None:
    result = run([str(UTILS / "run.sh"), "log/once.log", "echo JOB; echo oops >&2"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_log(tmp_path / "log/once.log")[2:4] == ["JOB", "oops"]


def test_run_quoted_pipeline(tmp_path: Path) -> None:
    command = "printf 'b\\na\\n' | sort > sorted.JOB.txt"
    result = run([str(UTILS / "run.sh"), "JOB=4:4", "log/p.JOB.log", command], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sorted.4.txt").read_text() == "a\nb\n"
    assert read_log(tmp_path / "log/p.4.log")[0] == "# printf 'b\\na\\n' | sort > sorted.4.txt"


def test_run_jobs_run_in_parallel(tmp_path: Path) -> None:
    # Each job waits until all three have started, which only happens if they run at once.
    command = (
        "touch started.JOB; for i in $(seq 50); do"
        " [ -e started.1 ] && [ -e started.2 ] && [ -e started.3 ] && exit 0; sleep 0.05;"
        " done; exit 1"
    )
    result = run([str(UTILS / "run.sh"), "JOB=1:3", "log/par.JOB.log", command], tmp_path)
    assert result.returncode == 0, result.stderr


def test_run_max_jobs_run_limits_concurrency(tmp_path: Path) -> None:
    # A job fails if it finds more than two jobs running, counted by marker files.
    command = (
        "touch running.JOB; n=$(ls running.* | wc -l); sleep 0.2; rm running.JOB;"
        " echo $n > count.JOB; [ $n -le 2 ]"
    )
    # The cluster options are accepted and ignored.
    args = [str(UTILS / "run.sh"), "--max-jobs-run", "2"]
    args += ["--mem", "4G", "--gpu", "1", "--num-threads", "8"]
    result = run([*args, "JOB=1:5", "log/lim.JOB.log", command], tmp_path)
    assert result.returncode == 0, result.stderr
    counts = [int((tmp_path / f"count.{job}").read_text()) for job in range(1, 6)]
    assert max(counts) == 2


def test_run_failure_counts_and_message(tmp_path: Path) -> None:
    args = ["JOB=1:4", "log/f.JOB.log", "exit $((JOB % 2 * 3))"]
    result = run([str(UTILS / "run.sh"), *args], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "run.sh: 2 / 4 failed, log is in log/f.JOB.log"
    assert read_log(tmp_path / "log/f.1.log")[-1].startswith("# Ended (code 3) at ")
    assert read_log(tmp_path / "log/f.2.log")[-1].startswith("# Ended (code 0) at ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["log/x.log"], "Usage: run.sh"),
        (["JOB=1:2", "log/x.log", "true"], "2 jobs would share one log"),
        (["JOB=3:2", "log/x.JOB.log", "true"], "empty job range"),
        (["--max-jobs-run", "0", "log/x.log", "true"], "at least 1"),
        (["--max-jobs-run=2", "log/x.log", "true"], "write options as '--name value'"),
    ],
)
def test_run_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run([str(UTILS / "run.sh"), *args], tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "log").exists()


# --------------------------------------------------------------------------- slurm.sh

FAKE_SBATCH = """\
#!/usr/bin/env bash
# Fake sbatch: records its arguments, then runs each array task of the batch script in turn.
printf '%s\\n' "$@" > sbatch.args
if [ -n "${FAKE_SBATCH_REFUSE:-}" ]; then
  echo "sbatch: error: $FAKE_SBATCH_REFUSE" >&2
  exit 1
fi
script=${!#}
range=
for arg in "$@"; do
  case $arg in --array=*) range=${arg#--array=}; range=${range%%%*} ;; esac
done
rc=0
for ((i = ${range%-*}; i <= ${range#*-}; i++)); do
  SLURM_ARRAY_TASK_ID=$i bash "$script" || rc=$?
done
echo 1234
exit $rc
"""


@pytest.fixture
def slurm_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_slurm_submits_array_and_logs_like_run(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    args = ["--mem", "4G", "--gpu", "1", "--num-threads", "2", "--max-jobs-run", "2"]
    command = "echo task JOB | tr a-z A-Z"
    args += ["JOB=2:4", "exp/log/train.JOB.log", command]
    result = run([str(UTILS / "slurm.sh"), *args], tmp_path, slurm_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "sbatch.args").read_text().splitlines() == [
        "--wait",
        "--parsable",
        "--job-name=train",
        "--array=2-4%2",
        "--output=exp/log/q/train.%a.out",
        "--mem=4G",
        "--gres=gpu:1",
        "--cpus-per-task=2",
        "exp/log/q/train.sh",
    ]
    for job in (2, 3, 4):
        lines = read_log(tmp_path / f"exp/log/train.{job}.log")
        assert lines[0] == f"# echo task {job} | tr a-z A-Z"
        assert lines[2] == f"TASK {job}"
        assert lines[-1].startswith("# Ended (code 0) at ")
    assert not (tmp_path / "exp/log/train.1.log").exists()


def test_slurm_without_range_and_gpu_zero(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    args = ["--gpu", "0", "log/one.log", "echo", "JOB"]
    result = run([str(UTILS / "slurm.sh"), *args], tmp_path, slurm_env)
    assert result.returncode == 0, result.stderr
    sbatch_args = (tmp_path / "sbatch.args").read_text().splitlines()
    assert "--array=1-1" in sbatch_args
    assert not any(arg.startswith("--gres") for arg in sbatch_args)
    assert read_log(tmp_path / "log/one.log")[2] == "JOB"


def test_slurm_failing_tasks(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    # Task 2 fails; task 3 is killed with its batch script, so it writes no footer and its
    # successful log from an earlier run is overwritten.
    stale = tmp_path / "log/t.3.log"
    stale.parent.mkdir()
    stale.write_text("# Ended (code 0) at yesterday\n")
    command = "[ JOB -ne 3 ] || kill -9 $PPID; exit $((JOB == 2))"
    args = ["JOB=1:3", "log/t.JOB.log", command]
    result = run([str(UTILS / "slurm.sh"), *args], tmp_path, slurm_env)
    assert result.returncode == 1
    assert result.stderr.strip() == "slurm.sh: 2 / 3 failed, log is in log/t.JOB.log"
    assert read_log(tmp_path / "log/t.1.log")[-1].startswith("# Ended (code 0) at ")
    assert read_log(tmp_path / "log/t.2.log")[-1].startswith("# Ended (code 1) at ")
    assert read_log(tmp_path / "log/t.3.log")[-1].startswith("# Started at ")


def test_slurm_refused_submission(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    stale = tmp_path / "log/t.1.log"
    stale.parent.mkdir()
    stale.write_text("# Ended (code 0) at yesterday\n")
    env = {**slurm_env, "FAKE_SBATCH_REFUSE": "invalid partition specified"}
    result = run([str(UTILS / "slurm.sh"), "JOB=1:2", "log/t.JOB.log", "true"], tmp_path, env)
    assert result.returncode == 1
    stderr = result.stderr.splitlines()
    assert stderr[0] == "slurm.sh: 2 / 2 failed, log is in log/t.JOB.log"
    assert "2 task(s) wrote no log; sbatch exited with code 1" in stderr[1]
    assert "log/q/t.submit.log" in stderr[1]
    assert stderr[2] == "sbatch: error: invalid partition specified"
    assert not stale.exists()


def test_slurm_rejects_unknown_option(tmp_path: Path, slurm_env: dict[str, str]) -> None:
    args = ["--time", "1:00:00", "log/x.log", "true"]
    result = run([str(UTILS / "slurm.sh"), *args], tmp_path, slurm_env)
    assert result.returncode == 1
    assert "unknown option --time" in result.stderr
    assert not (tmp_path / "sbatch.args").exists()


def test_slurm_without_sbatch_says_to_use_run(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "basename", "mkdir", "rm", "tail", "date"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or pytest.skip(f"no {tool}"))
    result = run([str(UTILS / "slurm.sh"), "log/x.log", "true"], tmp_path, {"PATH": str(bin_dir)})
    assert result.returncode == 1
    assert "sbatch not found on PATH" in result.stderr
    assert "utils/run.sh in cmd.sh" in result.stderr
    assert not (tmp_path / "log").exists()


@pytest.mark.parametrize("script", ["parse_options.sh", "run.sh", "slurm.sh"])
def test_scripts_are_executable_bash(script: str) -> None:
    path = UTILS / script
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_the_shared_stages_template_lists_its_options_and_every_recipe_uses_it() -> None:
    """Stages 2-7 live once, in recipes/TEMPLATE/wavenet.sh: each recipe links it and passes
    only options the template declares."""
    template = UTILS.parents[0] / "TEMPLATE" / "wavenet.sh"
    folder = UTILS.parents[1] / "egs" / "toy" / "v1"
    result = run(["wavenet.sh", "--help"], folder)
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^  --(\S+) +\[(.*?)\]", result.stderr, flags=re.M))
    assert listed["stage"] == "" and listed["copy-check"] == "false"
    declared = set(listed)
    for recipe in ("toy", "gtzan", "mtat"):
        v1 = UTILS.parents[1] / "egs" / recipe / "v1"
        assert (v1 / "wavenet.sh").resolve() == template.resolve()
        text = (v1 / "run.sh").read_text()
        call = text[text.index("./wavenet.sh"):]
        passed = set(re.findall(r"--([a-z][a-z-]*) ", call))
        assert passed <= declared, passed - declared
        assert 'if [ "$stage" -le 2 ]' not in text  # no copy of a shared stage
