"""Interoperation with webMUSHRA: export a MUSHRA test as its YAML config, import its results.

The exported config expects the stimuli under ``configs/resources/audio/<test id>/`` of a
webMUSHRA installation. webMUSHRA adds the hidden reference and the 3.5/7 kHz anchors itself, so
the config lists only the systems' keys; its result rows name those conditions ``reference``,
``anchor35`` and ``anchor70``, which the import maps back to this test's keys.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from wavegen.errors import WavegenError
from wavegen.listen.layout import ANCHOR35, ANCHOR70, REFERENCE
from wavegen.outputs import write_text

RESULT_COLUMNS = ("session_uuid", "trial_id", "rating_stimulus", "rating_score")


def write_config(public: Mapping[str, Any], manifest: Mapping[str, Any], path: Path,
                 test_id: str) -> None:
    """Write a webMUSHRA YAML config for a MUSHRA test (trials shuffled by webMUSHRA)."""
    keys = manifest["keys"]
    audio = f"configs/resources/audio/{test_id}"
    trials = []
    for n, trial in enumerate(public["trials"], 1):
        systems = [k for k in trial["stimuli"] if keys[k]["system"] not in
                   (REFERENCE, ANCHOR35, ANCHOR70)]
        trials.append({
            "type": "mushra", "id": trial["id"], "name": f"Trial {n}",
            "content": public["instructions"],
            "showWaveform": False, "enableLooping": False,
            "reference": f"{audio}/{trial['reference']}.wav",
            "createAnchor35": True, "createAnchor70": True,
            "stimuli": {k: f"{audio}/{k}.wav" for k in systems},
        })
    config = {
        "testname": public["title"], "testId": test_id, "bufferSize": 2048,
        "stopOnErrors": True, "showButtonPreviousPage": True,
        "remoteService": "service/write.php",
        "pages": [
            {"type": "generic", "id": "welcome", "name": "Welcome",
             "content": public["instructions"]},
            ["random", *trials],
            {"type": "finish", "name": "Thank you", "content": "Thank you for listening.",
             "showResults": False, "writeResults": True},
        ],
    }
    write_text(path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100))


def read_results(path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> list[dict]:
    """Rows of a webMUSHRA ``mushra.csv`` as answer rows of this test.

    Returns:
        ``[{"listener", "trial", "item", "score", "label"}]`` with ``item`` the stimulus key and
        listeners named ``webmushra:<session_uuid>``.

    Raises:
        WavegenError: missing columns, or a trial, stimulus or score this test does not know.
    """
    path = Path(path)
    by_trial: dict[str, dict[str, str]] = {}
    for key, entry in manifest["keys"].items():
        if entry["role"] == "stimulus":
            by_trial.setdefault(entry["trial"], {})[key] = key
            if entry["system"] in (REFERENCE, ANCHOR35, ANCHOR70):
                by_trial[entry["trial"]][entry["system"]] = key
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in RESULT_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise WavegenError(f"{path} is not a webMUSHRA mushra.csv: no column(s) "
                                   f"{', '.join(missing)}")
            rows = []
            for line, rec in enumerate(reader, 2):
                trial, stim = rec["trial_id"], rec["rating_stimulus"]
                if trial not in by_trial or stim not in by_trial[trial]:
                    raise WavegenError(f"{path}:{line}: trial '{trial}' / stimulus '{stim}' is "
                                       f"not part of this test; import results of this test only")
                try:
                    score = float(rec["rating_score"])
                except ValueError:
                    score = -1.0
                if not 0 <= score <= 100:
                    raise WavegenError(f"{path}:{line}: rating_score {rec['rating_score']!r} is "
                                       f"not a number from 0 to 100")
                rows.append({"listener": f"webmushra:{rec['session_uuid']}", "trial": trial,
                             "item": by_trial[trial][stim], "score": score, "label": None})
    except OSError as err:
        raise WavegenError(f"cannot read {path}: {err}") from err
    return rows
