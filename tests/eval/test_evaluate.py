"""Classifier training, ``wavegen eval`` and ``wavegen report`` on a small toy corpus."""

import html
import json
import os
import re
import shutil

import numpy as np
import pytest

from wavegen.audio import read_audio, write_wav
from wavegen.cli import main
from wavegen.data.dump import dump_data_dir
from wavegen.data.gtzan import prepare_gtzan
from wavegen.data.kaldi import read_table
from wavegen.data.toy import make_toy_corpus
from wavegen.errors import WavegenError
from wavegen.eval.classifier import load_classifier
from wavegen.eval.evaluate import evaluate
from wavegen.eval.report import write_report
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig

RATE = 8000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcorpus")
    make_toy_corpus(root / "db", clips_per_genre=6, duration=2.0, seed=3)
    prepare_gtzan(root / "db", root / "data", split="random", valid_frac=0.17, test_frac=0.34)
    for name in ("train", "test"):
        dump_data_dir(root / "data" / name, root / "dump" / name, RATE)
    clf = root / "clf.pt"
    assert main(["classifier", "train", "--dump-dir", str(root / "dump"), "--out", str(clf),
                 "--steps", "150"]) == 0
    return root


def _as_generated(data_dir, out, transform=None):
    """Copy a data dir's clips to ``<genre>_<k>.wav`` names, optionally transformed."""
    out.mkdir()
    genres = read_table(data_dir / "utt2genre")
    counts: dict[str, int] = {}
    for utt, path in read_table(data_dir / "wav.scp").items():
        g = genres[utt]
        k = counts[g] = counts.get(g, -1) + 1
        if transform is None:
            shutil.copy(path, out / f"{g}_{k:03d}.wav")
        else:
            write_wav(out / f"{g}_{k:03d}.wav", transform(k), RATE)
    return out


def test_classifier_file_reports_real_accuracy(corpus):
    clf, metrics = load_classifier(corpus / "clf.pt")
    assert clf.cfg.sample_rate == RATE and len(clf.vocab) == 10 and not clf.multi_label
    assert metrics["n_test"] == 20 and metrics["test_accuracy"] >= 0.5  # chance: 0.1


def test_real_clips_score_like_real_and_noise_does_not(corpus, tmp_path):
    data = corpus / "data" / "test"
    copies = _as_generated(data, tmp_path / "copies")
    rng = np.random.default_rng(0)
    noise = _as_generated(data, tmp_path / "noise",
                          lambda k: 0.3 * rng.standard_normal(2 * RATE).astype(np.float32))
    good = evaluate(copies, data, corpus / "clf.pt", tmp_path / "eval-copies")
    bad = evaluate(noise, data, corpus / "clf.pt", tmp_path / "eval-noise")
    # Copies of the real clips: the classifier says the same about them as about the real ones.
    assert good["generated"]["conditional_accuracy"] == pytest.approx(good["real"]["accuracy"])
    assert good["frechet"]["generated_vs_real"]["fd"] < 1e-6
    assert bad["generated"]["conditional_accuracy"] <= 0.2
    assert bad["frechet"]["generated_vs_real"]["fd"] > 10 * good["frechet"]["real_vs_real"]["fd"]
    confusion = np.array(bad["generated"]["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == bad["generated"]["n"] == 20
    on_disk = json.loads((tmp_path / "eval-noise" / "eval.json").read_text())
    assert on_disk["generated"]["n"] == 20 and on_disk["real"]["n"] == 20
    # Rhythm: copies of the real clips have the real clips' statistics; without --train
    # there is no copies entry.
    attacks = good["attacks"]["per_genre"]
    assert set(attacks) == set(good["generated"]["per_genre_accuracy"])
    for entry in attacks.values():
        assert entry["real"]["n"] == entry["generated"]["n"] >= 1
        assert entry["onset_rate"]["ratio"] in (None, pytest.approx(1.0))
        assert entry["generated"]["tempos"] == entry["real"]["tempos"]
    assert "attacks" in on_disk and "copies" not in on_disk


def test_eval_reports_model_nll_and_report_links_are_relative(corpus, tmp_path):
    model = WaveNet(WaveNetConfig(n_layers=3, dilation_cycle=3, residual_channels=8,
                                  gate_channels=8, skip_channels=8, n_cond=10))
    vocab = load_classifier(corpus / "clf.pt")[0].vocab
    save_model(tmp_path / "model.pt", model, RATE, vocab)
    exp = tmp_path / "exp"
    gen = _as_generated(corpus / "data" / "test", tmp_path / "gen")
    # Plant a copy of 1.5 s of a training clip, from 0.4 s on, under noise at 30 dB SNR.
    train = corpus / "data" / "train"
    utt, path = next(iter(read_table(train / "wav.scp").items()))
    samples, sr = read_audio(path)
    piece = samples[int(0.4 * sr):int(1.9 * sr)]
    noise = np.random.default_rng(1).standard_normal(piece.size) * piece.std() / 30
    write_wav(gen / f"{read_table(train / 'utt2genre')[utt]}_900.wav", piece + noise, sr)
    assert main(["eval", "--gen", str(gen), "--ref", str(corpus / "data" / "test"),
                 "--classifier", str(corpus / "clf.pt"), "--out", str(exp / "eval" / "copies"),
                 "--model", str(tmp_path / "model.pt"), "--nll-seconds", "0.5",
                 "--train", str(train)]) == 0
    result = json.loads((exp / "eval" / "copies" / "eval.json").read_text())
    assert 6.0 < result["nll_bits_per_sample"] < 9.0  # untrained: about log2(256) = 8 bits
    copies = result["copies"]
    planted = next(c for c in copies["clips"] if c["file"].endswith("_900.wav"))
    assert planted["flagged"] and planted["max_ncc"] > 0.99 and planted["ncc_train_utt"] == utt
    assert planted["ncc_offset_seconds"] - planted["ncc_window_seconds"] == pytest.approx(
        0.4, abs=1e-3)
    base = copies["real_vs_train"]
    assert base["n"] == 20 and copies["threshold"] == max(0.8, base["max"])
    # The other clips are the held-out real clips themselves: they score what the real
    # excerpts score, and none is flagged.
    others = [c for c in copies["clips"] if c is not planted]
    assert sorted(c["max_ncc"] for c in others) == pytest.approx(sorted(base["max_ncc"]))
    assert not any(c["flagged"] for c in others) and copies["n_flagged"] == 1
    assert sorted(base["utts"]) == sorted(result["real"]["utts"])
    (exp / "train_log.csv").write_text("step,loss_bits,valid_bits,lr,samples_per_s\n"
                                       "1,8.0,,0.001,100\n2,7.0,7.5,0.001,100\n")
    (exp / "runs.jsonl").write_text(json.dumps(
        {"command": "wavegen train --exp-dir <b>x</b>", "commit": "abc123", "date": "D1",
         "from_step": 0, "to_step": 2, "device": "cpu", "precision": "no"}) + "\nnot json\n")
    (exp / "config.yaml").write_text("sample_rate: 8000  # <script>\n")
    index = write_report(exp)
    page = index.read_text()
    # The run: steps, validation, each training run's command and commit (escaped), config.
    assert "steps trained: 2" in page and "validation NLL at step 2: 7.5000" in page
    assert "commit abc123: <code>wavegen train --exp-dir &lt;b&gt;x&lt;/b&gt;</code>" in page
    assert "sample_rate: 8000  # &lt;script&gt;" in page and "this report: " in page
    assert "FD&infin; real vs real" in page
    assert result["frechet"]["real_vs_real"]["fd_inf"] is not None
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(not link.startswith(("/", "http")) for link in links)
    assert all((index.parent / link).is_file() for link in links)
    assert "conditional accuracy" in page and "training.png" in page
    # Per genre: rhythm table and real and generated clips side by side; the copies table
    # with the planted clip highlighted and played next to its training source.
    assert page.count("onsets / s") == 10 and page.count("<figcaption>real: ") == 10
    assert "Copies of training audio" in page and page.count("<tr class=flag>") == 1
    assert f"training: {utt} from 0.4 s" in page
    assert str(tmp_path) not in page.replace(str(corpus / "clf.pt"), "")
    # Writing it again replaces the report; a folder of the user's own files is refused, kept.
    assert write_report(exp) == index and index.is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(WavegenError, match="did not write"):
        write_report(exp, mine)
    assert (mine / "notes.txt").read_text() == "keep" and sorted(os.listdir(mine)) == ["notes.txt"]
    assert not [p for p in exp.iterdir() if p.name.endswith((".tmp", ".old"))]


def test_eval_errors(corpus, tmp_path):
    with pytest.raises(WavegenError, match="no <genre>_<k>.wav clips"):
        (tmp_path / "empty").mkdir()
        evaluate(tmp_path / "empty", corpus / "data" / "test", corpus / "clf.pt", tmp_path / "o")
    with pytest.raises(WavegenError, match="not a wavegen classifier"):
        save_model(tmp_path / "m.pt", WaveNet(WaveNetConfig(n_layers=2, dilation_cycle=2,
                                                            n_cond=10)), RATE, ["a"] * 10)
        evaluate(corpus / "data" / "test", corpus / "data" / "test", tmp_path / "m.pt",
                 tmp_path / "o")
    with pytest.raises(WavegenError, match="neither eval"):
        write_report(tmp_path / "nothing")


@pytest.mark.parametrize("extra, message", [
    (["--train", "no-such-dir"], "is not a folder"),
    (["--copy-threshold", "1.5"], "--copy-threshold: 1.5 is out of range; accepted: (0, 1]"),
    (["--copy-threshold", "0"], "--copy-threshold: 0 is out of range"),
    (["--copy-threshold=-1"], "--copy-threshold: -1 is out of range"),
    (["--copy-threshold", "nan"], "--copy-threshold: 'nan' is not finite"),
    (["--copy-threshold", "inf"], "--copy-threshold: 'inf' is not finite"),
    (["--train", ""], "is not a folder"),
    (["--train", "/dev/null"], "is not a folder"),
])
def test_eval_rejects_bad_copy_arguments(corpus, tmp_path, capsys, extra, message):
    data = str(corpus / "data" / "test")
    try:
        code = main(["eval", "--gen", data, "--ref", data, "--classifier",
                     str(corpus / "clf.pt"), "--out", str(tmp_path / "o"), *extra])
    except SystemExit as exc:  # refused where the flags parse
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("evil", ['x" onerror="alert(1)', "<img src=x onerror=alert(1)>",
                                  "a'b onload=alert(1) c", "spaced name & co"])
def test_report_escapes_names_and_works_from_another_folder(corpus, tmp_path, monkeypatch, evil):
    """Folder names reach the page only escaped; a report written from another folder than the
    evaluation's still plays every clip; the page may run no script."""
    monkeypatch.chdir(corpus)  # relative paths, as a recipe passes them
    gen = _as_generated(corpus / "data" / "test", tmp_path / "gen")
    exp = tmp_path / "exp"
    assert main(["eval", "--gen", str(gen),
                 "--ref", "data/test", "--classifier", "clf.pt",
                 "--out", str(exp / "eval" / evil)]) == 0
    monkeypatch.chdir(tmp_path)
    page = write_report(exp).read_text()
    assert evil not in page and html.escape(evil) in page
    for attr in re.findall(r'(?:src|href|alt)="([^"]*)"', page):
        assert re.fullmatch(r"[A-Za-z0-9._/ -]*", attr), attr
    assert "script-src 'none'" in page and "<script" not in page
    assert page.count("<audio") == 10 + 20  # 1 real + 2 generated per genre
