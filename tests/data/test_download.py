"""Corpus downloads against a local HTTP server: mirrors, resume, checksums, safe extraction.

The server runs on 127.0.0.1 with an ephemeral port and serves small archives built here in
the real layouts; every request it gets is recorded. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import stat
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.cli import main
from wavegen.data import download
from wavegen.data.download import (
    FileSpec,
    download_corpus,
    download_file,
    extract_split_zip,
    extract_tar,
)
from wavegen.errors import WavegenError

GENRES = ("blues", "jazz", "rock")
MTAT_CLIPS = {
    "0/artist_a-album-01-first-0-29.mp3": b"ID3 first clip",
    "c/artist_b-album-02-second-30-59.mp3": b"ID3 second clip",
    "f/artist_c-album-03-third-0-29.mp3": b"ID3 third clip",
}


class Site:
    """What the test server serves; records ``(path, Range header)`` of every request.

    ``script[path]`` lists how the next requests for ``path`` are answered, one entry each, then
    normally: ``drop`` (send half of the body, then close the connection), ``ignore-range``
    (answer 200 with the whole file), ``stall`` (send the headers, then nothing) or an HTTP
    status code such as ``503``.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.script: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        self.base = ""
        self.flooded = 0  # bytes a "flood" answer managed to send

    def count(self, path: str) -> int:
        return sum(p == path for p, _ in self.requests)


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server looks up)
            site.requests.append((self.path, self.headers.get("Range")))
            steps = site.script.get(self.path, [])
            step = steps.pop(0) if steps else "ok"
            body = site.files.get(self.path)
            if step.isdigit() or body is None:
                self.send_error(int(step) if step.isdigit() else 404)
                return
            start = 0
            ranged = self.headers.get("Range")
            if ranged and step != "ignore-range":
                start = int(ranged.removeprefix("bytes=").removesuffix("-"))
                if start >= len(body):
                    self.send_error(416)
                    return
            if step == "flood":  # no length, and bytes without end until the client leaves
                self.send_response(200)
                self.end_headers()
                deadline = time.monotonic() + 30
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(bytes(1 << 16))
                        site.flooded += 1 << 16
                except OSError:
                    pass
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if step == "stall":
                site.release.wait(10)
            elif step == "drop":
                self.wfile.write(body[start:start + (len(body) - start) // 2])
            else:
                self.wfile.write(body[start:])
            # HTTP/1.0: the server closes the connection once this returns.

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep urllib from sending the local requests through a proxy configured in the env."""
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


@pytest.fixture
def site() -> Iterator[Site]:
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    site.release.set()
    server.shutdown()
    server.server_close()


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def spec_for(name: str, data: bytes, urls: tuple[str, ...] = (), algorithm: str = "sha256",
             sized: bool = True) -> FileSpec:
    digest = hashlib.new(algorithm, data).hexdigest()
    return FileSpec(name, urls, f"{algorithm}:{digest}", len(data) if sized else None)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gtzan_members() -> dict[str, bytes]:
    """``genres/<genre>/<genre>.00000.wav``: 400 samples of noise each."""
    rng = np.random.default_rng(0)
    members = {}
    for genre in GENRES:
        wav = io.BytesIO()
        sf.write(wav, 0.1 * rng.standard_normal(400), 22050, format="WAV", subtype="PCM_16")
        members[f"genres/{genre}/{genre}.00000.wav"] = wav.getvalue()
    return members


@pytest.fixture(scope="module")
def gtzan_tar() -> bytes:
    return tar_gz(gtzan_members())


def serve_gtzan(site: Site, data: bytes, folder: str = "gtzan") -> tuple[str, FileSpec]:
    """Serve ``data`` as ``/<folder>/genres.tar.gz``; its path and a spec pointing there."""
    path = f"/{folder}/genres.tar.gz"
    site.files[path] = data
    return path, spec_for("genres.tar.gz", data, (site.base + path,))


def assert_gtzan_extracted(dest: Path) -> None:
    for genre in GENRES:
        samples, sr = sf.read(str(dest / "genres" / genre / f"{genre}.00000.wav"))
        assert (sr, samples.shape) == (22050, (400,))
    assert (dest / ".gtzan.done").is_file()
    assert not list(dest.glob("*.part"))


def test_gtzan_clean_download_and_extraction(site: Site, gtzan_tar: bytes,
                                             tmp_path: Path) -> None:
    path, spec = serve_gtzan(site, gtzan_tar)
    assert download_corpus("gtzan", tmp_path / "db", specs=[spec]) == tmp_path / "db"
    assert (tmp_path / "db" / "genres.tar.gz").read_bytes() == gtzan_tar
    assert_gtzan_extracted(tmp_path / "db")
    assert site.requests == [(path, None)]
    # The marker makes a re-run skip the corpus without a request.
    download_corpus("gtzan", tmp_path / "db", specs=[spec])
    assert len(site.requests) == 1


def test_mtat_parts_are_joined_and_unzipped(site: Site, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in MTAT_CLIPS.items():
            zf.writestr(name, data)
    joined = buf.getvalue()
    third = len(joined) // 3
    parts = [joined[:third], joined[third:2 * third], joined[2 * third:]]
    annotations = (b'"clip_id"\t"guitar"\t"mp3_path"\n'
                   b'"2"\t"1"\t"0/artist_a-album-01-first-0-29.mp3"\n')
    clip_info = b'"clip_id"\t"title"\n"2"\t"first"\n'
    files = {f"mp3.zip.00{i + 1}": p for i, p in enumerate(parts)}
    files |= {"annotations_final.csv": annotations, "clip_info_final.csv": clip_info}
    for name, data in files.items():
        site.files[f"/mtat/{name}"] = data
    specs = [spec_for(name, data, algorithm="md5", sized=False) for name, data in files.items()]

    dest = download_corpus("mtat", tmp_path / "db", mirrors=[site.base + "/mtat/"], specs=specs)

    for name, data in MTAT_CLIPS.items():
        assert (dest / "mp3" / name).read_bytes() == data
    for name, data in files.items():
        assert (dest / name).read_bytes() == data
    assert not (dest / "mp3.zip").exists()
    assert (dest / ".mtat.done").is_file()
    assert sorted(p for p, _ in site.requests) == sorted(f"/mtat/{n}" for n in files)


def test_dropped_connection_resumes_with_a_range_request(site: Site, gtzan_tar: bytes,
                                                         tmp_path: Path) -> None:
    path, spec = serve_gtzan(site, gtzan_tar)
    site.script[path] = ["drop"]
    download_corpus("gtzan", tmp_path, specs=[spec])
    half = len(gtzan_tar) // 2
    assert site.requests == [(path, None), (path, f"bytes={half}-")]
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar
    assert_gtzan_extracted(tmp_path)


def test_server_ignoring_the_range_restarts_from_zero(site: Site, gtzan_tar: bytes,
                                                      tmp_path: Path) -> None:
    path, spec = serve_gtzan(site, gtzan_tar)
    site.script[path] = ["drop", "ignore-range"]
    download_file(spec, tmp_path)
    assert [r is not None for _, r in site.requests] == [False, True]
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar


def test_wrong_checksum_falls_through_to_the_next_mirror(
        site: Site, gtzan_tar: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    site.files["/bad/genres.tar.gz"] = gtzan_tar[:-1] + b"x"
    site.files["/good/genres.tar.gz"] = gtzan_tar
    spec = spec_for("genres.tar.gz", gtzan_tar)
    with caplog.at_level(logging.WARNING, logger="wavegen"):
        download_file(spec, tmp_path, mirrors=[site.base + "/bad", site.base + "/good"])
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar
    assert site.requests == [("/bad/genres.tar.gz", None), ("/good/genres.tar.gz", None)]
    assert any("/bad/genres.tar.gz: sha256" in r.getMessage() for r in caplog.records)


def test_every_mirror_failing_names_each_url_and_leaves_no_file(
        site: Site, gtzan_tar: bytes, tmp_path: Path) -> None:
    site.files["/corrupt/genres.tar.gz"] = gtzan_tar[::-1]
    urls = (site.base + "/missing/genres.tar.gz", site.base + "/corrupt/genres.tar.gz",
            closed_port_url("genres.tar.gz"))
    spec = spec_for("genres.tar.gz", gtzan_tar, urls)
    with pytest.raises(WavegenError) as err:
        download_corpus("gtzan", tmp_path, specs=[spec])
    message = str(err.value)
    assert message.startswith(f"could not download genres.tar.gz: {urls[0]}: HTTP 404")
    assert f"{urls[0]}: HTTP 404" in message
    assert f"{urls[1]}: sha256 " in message
    assert f"{urls[2]}: " in message and "refused" in message.lower()
    assert "partial" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_broken_download_keeps_the_part_and_a_rerun_resumes_it(site: Site, gtzan_tar: bytes,
                                                               tmp_path: Path) -> None:
    path, spec = serve_gtzan(site, gtzan_tar)
    site.script[path] = ["drop", "503"]
    with pytest.raises(WavegenError, match=r"HTTP 503.*partial download .*\.part was kept"):
        download_file(spec, tmp_path)
    half = len(gtzan_tar) // 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genres.tar.gz.part"]
    assert (tmp_path / "genres.tar.gz.part").stat().st_size == half
    download_file(spec, tmp_path)
    assert site.requests[-1] == (path, f"bytes={half}-")
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar


def test_bad_stale_part_is_downloaded_again_from_zero(site: Site, gtzan_tar: bytes,
                                                      tmp_path: Path) -> None:
    path, spec = serve_gtzan(site, gtzan_tar)
    (tmp_path / "genres.tar.gz.part").write_bytes(b"garbage")
    download_file(spec, tmp_path)
    assert site.requests == [(path, "bytes=7-"), (path, None)]
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar


def test_stalled_mirror_times_out(site: Site, gtzan_tar: bytes, tmp_path: Path) -> None:
    site.files["/slow/genres.tar.gz"] = gtzan_tar
    site.script["/slow/genres.tar.gz"] = ["stall"]
    _, spec = serve_gtzan(site, gtzan_tar)
    download_file(spec, tmp_path, mirrors=[site.base + "/slow"], timeout=0.3)
    assert [p for p, _ in site.requests] == ["/slow/genres.tar.gz", "/gtzan/genres.tar.gz"]
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar


def test_complete_file_is_not_downloaded_again(site: Site, gtzan_tar: bytes,
                                               tmp_path: Path) -> None:
    path, spec = serve_gtzan(site, gtzan_tar)
    (tmp_path / "genres.tar.gz").write_bytes(gtzan_tar)
    download_corpus("gtzan", tmp_path, specs=[spec])
    assert site.requests == []
    assert_gtzan_extracted(tmp_path)
    # A final file with the wrong content is replaced.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "genres.tar.gz").write_bytes(gtzan_tar[:-1])
    download_file(spec, tmp_path / "other")
    assert site.requests == [(path, None)]
    assert (tmp_path / "other" / "genres.tar.gz").read_bytes() == gtzan_tar


def test_tar_member_escaping_dest_is_refused(site: Site, gtzan_tar: bytes,
                                             tmp_path: Path) -> None:
    evil = tar_gz({**gtzan_members(), "../evil.txt": b"outside"})
    _, spec = serve_gtzan(site, evil)
    dest = tmp_path / "db"
    with pytest.raises(WavegenError, match=r"refusing to extract .*'\.\./evil\.txt'"):
        download_corpus("gtzan", dest, specs=[spec])
    assert not (tmp_path / "evil.txt").exists()
    assert not (dest / "genres").exists()
    assert not (dest / ".gtzan.done").exists()


def test_tar_link_and_zip_escape_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        link = tarfile.TarInfo("genres/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    (tmp_path / "links.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(WavegenError, match="'genres/link' is a link"):
        extract_tar(tmp_path / "links.tar.gz", tmp_path / "out")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("0/../../evil.mp3", b"x")
    (tmp_path / "mp3.zip.001").write_bytes(buf.getvalue())
    with pytest.raises(WavegenError, match="would be written outside"):
        extract_split_zip([tmp_path / "mp3.zip.001"], tmp_path / "mp3.zip", tmp_path / "mp3")
    assert not (tmp_path / "evil.mp3").exists() and not (tmp_path / "mp3.zip").exists()


def test_unknown_corpus(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="unknown corpus 'fma'; known: gtzan, mtat"):
        download_corpus("fma", tmp_path)


def test_builtin_specs() -> None:
    (gtzan,) = download.CORPORA["gtzan"]
    assert gtzan.size == 1_225_571_541 and gtzan.checksum.startswith("sha256:24347e02")
    assert gtzan.urls[0] == "http://opihi.cs.uvic.ca/sound/genres.tar.gz"
    names = [s.name for s in download.CORPORA["mtat"]]
    assert names == ["mp3.zip.001", "mp3.zip.002", "mp3.zip.003", "annotations_final.csv",
                     "clip_info_final.csv"]
    for spec in download.CORPORA["gtzan"] + download.CORPORA["mtat"]:
        algorithm, _, digest = spec.checksum.partition(":")
        assert len(digest) == hashlib.new(algorithm).digest_size * 2
        assert all(url.endswith("/" + spec.name) for url in spec.urls)


def test_cli_download(site: Site, gtzan_tar: bytes, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    site.files["/mirror/genres.tar.gz"] = gtzan_tar
    monkeypatch.setitem(download.CORPORA, "gtzan", (spec_for("genres.tar.gz", gtzan_tar),))
    dest = tmp_path / "db"
    assert main(["download", "gtzan", "--dest", str(dest), "--mirror", site.base + "/gone",
                 "--mirror", site.base + "/mirror"]) == 0
    assert capsys.readouterr().out == f"{dest}\n"
    assert_gtzan_extracted(dest)
    assert main(["download", "gtzan", "--dest", str(tmp_path / "x"), "--mirror",
                 site.base + "/gone"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wavegen download: error: could not download genres.tar.gz")
    assert err.count("\n") == 1


def test_cli_checksum_file_for_a_mirror_with_its_own_build(
        site: Site, gtzan_tar: bytes, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    site.files["/own/genres.tar.gz"] = gtzan_tar
    site.script["/own/genres.tar.gz"] = ["drop"]
    sums = tmp_path / "sums"
    digest = hashlib.sha256(gtzan_tar).hexdigest()
    sums.write_text(f"# our build\ngenres.tar.gz sha256:{digest} {len(gtzan_tar)}\n")
    dest = tmp_path / "db"
    assert main(["download", "gtzan", "--dest", str(dest), "--mirror", site.base + "/own",
                 "--checksums", str(sums)]) == 0
    assert_gtzan_extracted(dest)
    assert site.requests[-1] == ("/own/genres.tar.gz", f"bytes={len(gtzan_tar) // 2}-")


@pytest.mark.parametrize(("line", "message"), [
    ("genres.tar.gz sha256", "expected '<file> <algorithm>:<digest> \\[<size>\\]'"),
    ("genres.tar.gz nohash:00", "expected '<file>"),
    ("genres.tar.gz md5:00 big", "expected '<file>"),
    ("mp3.zip.001 md5:00", "'mp3.zip.001' is not a file of gtzan; its files: genres.tar.gz"),
])
def test_bad_checksum_files(tmp_path: Path, line: str, message: str) -> None:
    sums = tmp_path / "sums"
    sums.write_text(line + "\n")
    with pytest.raises(WavegenError, match=message):
        download.specs_with_checksums("gtzan", sums)
    with pytest.raises(WavegenError, match="not found"):
        download.specs_with_checksums("gtzan", tmp_path / "none")


def test_checksum_file_replaces_only_the_named_files(tmp_path: Path) -> None:
    sums = tmp_path / "sums"
    sums.write_text("annotations_final.csv md5:" + "0" * 32 + "\n")
    specs = download.specs_with_checksums("mtat", sums)
    assert [s.name for s in specs] == [s.name for s in download.CORPORA["mtat"]]
    changed = {s.name: s for s in specs}["annotations_final.csv"]
    assert changed.checksum == "md5:" + "0" * 32 and changed.size is None
    assert specs[0] == download.CORPORA["mtat"][0]


def test_a_mirror_sending_more_than_declared_is_cut_off(site: Site, gtzan_tar: bytes,
                                                        tmp_path: Path) -> None:
    """A mirror that streams without end is stopped at the declared size (it used to fill the
    disk), and the next mirror is tried."""
    site.files["/flood/genres.tar.gz"] = gtzan_tar
    site.script["/flood/genres.tar.gz"] = ["flood"]
    site.files["/good/genres.tar.gz"] = gtzan_tar
    spec = spec_for("genres.tar.gz", gtzan_tar)
    download_file(spec, tmp_path, mirrors=[site.base + "/flood", site.base + "/good"])
    assert (tmp_path / "genres.tar.gz").read_bytes() == gtzan_tar
    assert site.requests[-1] == ("/good/genres.tar.gz", None)
    assert site.flooded < len(gtzan_tar) + (64 << 20)  # cut off long before 30 s of zeros


def test_zip_with_a_symlink_member_is_refused_before_writing(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("0/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc")
        zf.writestr("0/a.mp3", b"first")
        zf.writestr("0/link/evil.mp3", b"through the link")
    (tmp_path / "mp3.zip.001").write_bytes(buf.getvalue())
    dest = tmp_path / "mp3"
    with pytest.raises(WavegenError, match="'0/link' is a link"):
        extract_split_zip([tmp_path / "mp3.zip.001"], tmp_path / "mp3.zip", dest)
    assert not dest.exists() or not any(dest.rglob("*"))
    assert not (tmp_path / "mp3.zip").exists()
