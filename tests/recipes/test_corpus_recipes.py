"""The GTZAN and MagnaTagATune recipes, stages 0-2 and 4, on stand-in corpora in the real layouts.

Stage 0 downloads archives of the stand-in corpora from an HTTP server on 127.0.0.1 (the recipe's
``--mirror``, with ``--checksums`` for these builds); stages 1 and 2 run with ``--nj 2``; stage 4
(units) runs on the dumps of stage 2. A renderer trained on the MagnaTagATune stand-in runs
stages 1-6: copy synthesis, scored per genre, stops with one line for a tag corpus.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import soundfile as sf
from corpus_layouts import make_gtzan_tree, make_mtat_tree

from wavegen.data.dump import DumpStore
from wavegen.data.gtzan import filtered_split
from wavegen.data.kaldi import read_table, read_vocab, validate_data_dir
from wavegen.data.mtat import standard_tags
from wavegen.models.io import load_model
from wavegen.units.store import UnitStore
from wavegen.units.tokenizer import Tokenizer

EGS = Path(__file__).resolve().parents[2] / "egs"
SETS = ("train", "valid", "test")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(folder served over HTTP, its base URL)."""
    root = tmp_path_factory.mktemp("www")
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def publish(folder: Path, files: dict[str, bytes], algorithm: str) -> Path:
    """Write ``files`` into ``folder``; returns a checksum file for ``wavegen download``."""
    folder.mkdir(parents=True)
    lines = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        lines.append(f"{name} {algorithm}:{hashlib.new(algorithm, data).hexdigest()}\n")
    (folder / "checksums").write_text("".join(lines))
    return folder / "checksums"


def run_recipe(corpus: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp),
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    cmd = ["bash", str(EGS / corpus / "v1" / "run.sh"), "--db", str(tmp / "downloads"),
           "--data", str(tmp / "data"), "--dump", str(tmp / "dump"), "--exp", str(tmp / "exp"),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def set_utts(data: Path) -> dict[str, list[str]]:
    return {s: validate_data_dir(data / s) for s in SETS}


def assert_dumped(tmp: Path, utts: dict[str, list[str]], label_file: str) -> None:
    for s in SETS:
        store = DumpStore(tmp / "dump" / s)
        assert store.utts == utts[s] and store.label_kind == label_file
        assert store.sample_rate == 16000
        assert not (tmp / "dump" / s / "split2").exists()
        assert not (tmp / "data" / s / "split2").exists()


def assert_units_stage(corpus: str, tmp: Path) -> None:
    """Stage 4 alone, on the dumps: a 64-unit tokenizer at 50 frames/s and aligned units."""
    result = run_recipe(corpus, tmp, "--stage", "4", "--stop-stage", "4", "--nj", "2",
                        "--n-units", "64")
    assert result.returncode == 0, result.stderr
    tok = Tokenizer.load(tmp / "dump" / "tokenizer.pt")
    assert (tok.sample_rate, tok.hop, tok.n_units) == (16000, 320, 64)
    for s in SETS:
        store = DumpStore(tmp / "dump" / s)
        units = UnitStore(tmp / "dump" / s / "units")
        assert units.tokenizer == tok.identity()
        units.check_aligned({u: store.index[u][1] for u in store.utts}, 16000)
    assert not (tmp / "exp").exists()


def test_gtzan_stages_0_to_2_and_units(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    make_gtzan_tree(tmp_path / "src", layout="original", ext="au")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(tmp_path / "src" / "genres", arcname="genres")
    sums = publish(www / "gtzan", {"genres.tar.gz": buf.getvalue()}, "sha256")
    args = ("--stop-stage", "2", "--nj", "2", "--mirror", f"{base}/gtzan",
            "--checksums", str(sums))
    first = run_recipe("gtzan", tmp_path, *args)
    assert first.returncode == 0, first.stderr
    utts = set_utts(tmp_path / "data")
    assert utts == {s: sorted(v) for s, v in filtered_split().items()}
    assert {s: len(v) for s, v in utts.items()} == {"train": 443, "valid": 197, "test": 290}
    for s in SETS:
        assert (tmp_path / "data" / s / "bad_files").read_text() == ""
        wav = Path(read_table(tmp_path / "data" / s / "wav.scp")[utts[s][0]])
        assert wav.parts[-3] == "genres" and wav.suffix == ".au"
        assert wav.is_relative_to(tmp_path / "downloads")
    assert_dumped(tmp_path, utts, "utt2genre")
    assert (tmp_path / "dump" / "log" / "dump.6.log").is_file()
    assert "stage 2: dump at 16000 Hz (2 jobs)" in first.stderr

    again = run_recipe("gtzan", tmp_path, *args)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("skipping") == 3
    assert_units_stage("gtzan", tmp_path)


def test_gtzan_kaggle_copy_with_a_broken_file(tmp_path: Path) -> None:
    make_gtzan_tree(tmp_path / "kaggle", layout="kaggle", ext="wav", broken=("jazz.00054",))
    result = run_recipe("gtzan", tmp_path, "--db-root", str(tmp_path / "kaggle"),
                        "--stop-stage", "1", "--nj", "2")
    assert result.returncode == 0, result.stderr
    assert "using the copy of GTZAN in" in result.stderr
    assert not (tmp_path / "downloads").exists()
    utts = set_utts(tmp_path / "data")
    assert {s: len(v) for s, v in utts.items()} == {"train": 442, "valid": 197, "test": 290}
    broken = tmp_path / "kaggle" / "Data" / "genres_original" / "jazz" / "jazz.00054.wav"
    assert (tmp_path / "data" / "train" / "bad_files").read_text() == f"{broken}\n"
    logs = (tmp_path / "data" / "log").glob("check_audio.*.log")
    assert any("jazz.00054.wav" in p.read_text() for p in logs)


@pytest.mark.skipif("MP3" not in sf.available_formats(),
                    reason="this libsndfile cannot write MP3, needed for the MTAT fixture")
def test_mtat_stages_0_to_2_and_units(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    expected = make_mtat_tree(tmp_path / "src")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for mp3 in sorted((tmp_path / "src").glob("*/*.mp3")):
            zf.write(mp3, mp3.relative_to(tmp_path / "src").as_posix())
    joined = buf.getvalue()
    cut = [0, len(joined) // 3, 2 * len(joined) // 3, len(joined)]
    files = {f"mp3.zip.00{k + 1}": joined[cut[k]:cut[k + 1]] for k in range(3)}
    for name in ("annotations_final.csv", "clip_info_final.csv"):
        files[name] = (tmp_path / "src" / name).read_bytes()
    sums = publish(www / "mtat", files, "md5")
    result = run_recipe("mtat", tmp_path, "--stop-stage", "2", "--nj", "2",
                        "--mirror", f"{base}/mtat", "--checksums", str(sums))
    assert result.returncode == 0, result.stderr
    utts = set_utts(tmp_path / "data")
    assert utts == {s: expected[s] for s in SETS}
    assert sorted(read_vocab(tmp_path / "data" / "tags.txt")) == sorted(standard_tags())
    bad = sum(((tmp_path / "data" / s / "bad_files").read_text().split() for s in SETS), [])
    assert sorted(bad) == sorted(str(tmp_path / "downloads" / "mp3" / p)
                                 for p in expected["bad"])
    assert_dumped(tmp_path, utts, "utt2tags")
    assert_units_stage("mtat", tmp_path)


@pytest.mark.skipif("MP3" not in sf.available_formats(),
                    reason="this libsndfile cannot write MP3, needed for the MTAT fixture")
def test_mtat_renderer_stops_at_copy_synthesis(tmp_path: Path) -> None:
    """A renderer trained on the tag corpus (GTZAN's debug renderer config: both recipes run at
    16 kHz with a hop of 320): stages 1-5 run, stage 6 stops with one line, since copy
    synthesis is scored per genre, and a re-run stops the same way (nothing marked done)."""
    make_mtat_tree(tmp_path / "src")
    config = EGS / "gtzan" / "v1" / "conf" / "train_renderer_debug.yaml"
    args = ("--db-root", str(tmp_path / "src"), "--nj", "1", "--stop-stage", "6",
            "--classifier-steps", "5", "--n-units", "64", "--train-config", str(config))
    result = run_recipe("mtat", tmp_path, *args)
    assert result.returncode == 1
    model = tmp_path / "exp" / "model.pt"
    line = (f"stage 6: {model} is a renderer conditioned on tags, and copy synthesis (stages "
            "6-8) is scored per genre; render a clip from its plan with wavegen resynth "
            f"--model {model} --genre TAG --out OUT.wav IN.wav, or train the renderer on a "
            "genre corpus")
    assert result.stderr.splitlines()[-1] == line
    assert result.stderr.count("conditioned on tags") == 1
    _, info = load_model(model)
    tok = Tokenizer.load(tmp_path / "dump" / "tokenizer.pt")
    assert (info.config.n_units, info.config.unit_hop, info.label_kind) == (64, 320, "utt2tags")
    assert info.tokenizer is not None and info.tokenizer["identity"] == tok.identity()
    assert not (tmp_path / "exp" / "resynth").exists()
    again = run_recipe("mtat", tmp_path, *args, "--stage", "6")
    assert again.returncode == 1 and again.stderr.splitlines()[-1] == line


@pytest.mark.parametrize("corpus", ["gtzan", "mtat"])
def test_options(corpus: str, tmp_path: Path) -> None:
    helped = run_recipe(corpus, tmp_path, "--help")
    assert helped.returncode == 0 and "Stages: 0 download, 1 data dirs" in helped.stderr
    bad = run_recipe(corpus, tmp_path, "--no-such-option", "1")
    assert bad.returncode == 1 and "invalid option --no-such-option" in bad.stderr
    missing = run_recipe(corpus, tmp_path, "--db_root", str(tmp_path / "none"))
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    conf = tmp_path / "opts.sh"
    conf.write_text("stage=3\nstop_stage=3\n")
    later = run_recipe(corpus, tmp_path, "--config", str(conf))
    assert "stage 3: evaluation classifier" in later.stderr
    assert not os.path.exists(tmp_path / "data")
    # Stage 3 has no dump to train on: the failed step stops the run, and is not marked done.
    assert later.returncode == 1 and "1 / 1 failed, log is in" in later.stderr
    assert not (tmp_path / "dump" / "classifier" / ".done").exists()
