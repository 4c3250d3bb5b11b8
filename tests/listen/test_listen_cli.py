"""``wavegen listen ...`` in-process: help, build, report, and one-line errors with status 2."""

import json

import pytest

from wavegen.cli import main
from wavegen.listen.store import AnswerStore


def test_listen_help(capsys):
    for argv in (["listen", "--help"], ["listen", "build", "--help"],
                 ["listen", "serve", "--help"], ["listen", "report", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    assert "127.0.0.1" in capsys.readouterr().out  # the serve default


def test_build_and_report_through_the_cli(tmp_path, clip_dirs, capsys):
    out = tmp_path / "t"
    assert main(["listen", "build", "--type", "ab", "--systems", f"x={clip_dirs['sys_a']}",
                 "--ref", str(clip_dirs["ref"]), "--out", str(out), "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    public = json.loads((out / "test.json").read_text())
    store = AnswerStore(out)
    store.session("l", [])
    for t in public["trials"]:
        store.add_trial("l", t["id"], {"choice": (None, t["stimuli"][0])})
    assert main(["listen", "report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "two-sided binomial p=" in text and (out / "report" / "summary.csv").is_file()


@pytest.mark.parametrize("argv, message", [
    (["listen", "build", "--type", "mushra", "--systems", "a={a}", "--out", "{out}"],
     "needs a reference"),
    (["listen", "build", "--type", "mos", "--systems", "a", "--out", "{out}"], "NAME=DIR"),
    (["listen", "serve", "{out}"], "not a listening test"),
    (["listen", "report", "{out}"], "not a listening test"),
])
def test_errors_are_one_line_with_status_2(tmp_path, clip_dirs, capsys, argv, message):
    argv = [a.format(a=clip_dirs["sys_a"], out=tmp_path / "none") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wavegen listen: error:") and message in err
    assert len(err.splitlines()) == 1
