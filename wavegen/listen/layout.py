"""The test folder: file names, the public test description and the private manifest.

A test folder holds::

    test.json       public: test type, instructions, trials (ids, stimulus keys, options)
    manifest.json   private: key -> system, genre, source file; never served
    stimuli/        <key>.wav, one file per stimulus, named only by its blind key
    page/           the test page (HTML, script, style), frozen with the test
    webmushra.yaml  the same test as a webMUSHRA config (MUSHRA tests)
    answers.sqlite  the answers (created by ``wavegen listen serve``)
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from wavegen.errors import WavegenError
from wavegen.outputs import write_text

TEST_TYPES = ("mushra", "mos", "ab", "genre-id")
PUBLIC = "test.json"
MANIFEST = "manifest.json"
STIMULI = "stimuli"
PAGE = "page"
PAGE_SUFFIXES = (".html", ".js", ".css")
WEBMUSHRA = "webmushra.yaml"
ANSWERS = "answers.sqlite"

# Names the build gives to the non-system conditions; user system names must differ.
REFERENCE = "reference"
ANCHOR35 = "anchor35"
ANCHOR70 = "anchor70"
RESERVED = (REFERENCE, ANCHOR35, ANCHOR70)

KEY_RE = re.compile(r"^[0-9a-f]{12}$")
SYSTEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Score ranges per test type (inclusive); A/B and genre-id answers are choices, not scores.
SCORE_RANGE = {"mushra": (0, 100), "mos": (1, 5)}


def page_files(test_dir: str | os.PathLike[str] | None = None) -> dict[str, bytes]:
    """The test page's files by name: the test's frozen copy, else the packaged one."""
    folder: Any = Path(test_dir) / PAGE if test_dir is not None else None
    if folder is None or not folder.is_dir():
        folder = resources.files("wavegen.listen") / PAGE
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and Path(p.name).suffix in PAGE_SUFFIXES}


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (temporary file, then rename)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise WavegenError(
            f"{path.parent} is not a listening test (no {path.name}); "
            f"create one with 'wavegen listen build'"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except (OSError, ValueError) as err:
        raise WavegenError(f"cannot read the {what} {path}: {err}") from err
    if not isinstance(obj, dict):
        raise WavegenError(f"the {what} {path} is not a JSON object; rebuild the test")
    return obj


def load_public(test_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The public description: ``{"type", "title", "instructions", "trials": [...]}``.

    Raises:
        WavegenError: the folder is not a test or the file is damaged.
    """
    public = _read_json(Path(test_dir) / PUBLIC, "test description")
    if public.get("type") not in TEST_TYPES or not isinstance(public.get("trials"), list):
        raise WavegenError(f"{Path(test_dir) / PUBLIC} is damaged; rebuild the test")
    return public


def load_manifest(test_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The private manifest: ``{"keys": {key: {"system", "genre", "source", "trial"}}, ...}``."""
    manifest = _read_json(Path(test_dir) / MANIFEST, "manifest")
    if not isinstance(manifest.get("keys"), dict):
        raise WavegenError(f"{Path(test_dir) / MANIFEST} is damaged; rebuild the test")
    return manifest
