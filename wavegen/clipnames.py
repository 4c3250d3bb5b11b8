"""Names of generated clips, ``<label>_<k>.wav``: written by synth, read by eval and listen.

A label is a genre, a tag, or a genre mix. Characters a file name should not carry are mapped:
``:`` -> ``-``, ``,`` -> ``+`` and whitespace -> ``_``, so the MagnaTagATune tag ``no vocals``
gives ``no_vocals_000.wav`` and the mix ``rock:0.7,jazz:0.3`` gives ``rock-0.7+jazz-0.3_000.wav``.
Reading a name back against a vocabulary inverts the mapping.
"""

from __future__ import annotations

import re

CLIP_RE = re.compile(r"^(?P<label>[^/\x00]+)_(?P<k>\d+)\.wav$")


def clip_stem(label: str) -> str:
    """The file-name form of a label (see the module doc)."""
    return re.sub(r"\s", "_", label.replace(":", "-").replace(",", "+"))


def clip_filename(label: str, k: int) -> str:
    """``<stem>_<k>.wav`` with ``k`` zero-padded to three digits."""
    return f"{clip_stem(label)}_{k:03d}.wav"


def parse_clip_name(name: str, vocab: list[str] | None = None) -> str | None:
    """The label a clip file name was written for.

    Args:
        name: a file name such as ``no_vocals_003.wav``.
        vocab: the labels to match; with None, the name's label part is returned as written.

    Returns:
        The label (from ``vocab`` when given), or None if the name is not a clip name or names
        no label of ``vocab`` (a mix, say).
    """
    match = CLIP_RE.match(name)
    if match is None:
        return None
    if vocab is None:
        return match["label"]
    return {clip_stem(v): v for v in vocab}.get(match["label"])
