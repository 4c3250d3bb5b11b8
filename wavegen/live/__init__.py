"""``wavegen live``: play a model in the browser and steer it while it sounds.

:mod:`~wavegen.live.controls` checks the controls and writes a take as an automation file,
:mod:`~wavegen.live.player` generates a little ahead of the browser's playhead in its own thread,
:mod:`~wavegen.live.server` serves the page and the websocket (aiohttp), and ``page/`` holds the
page and its AudioWorklet. docs/live.md describes the design and its measurements.
"""

from __future__ import annotations

import dataclasses
import os
import shlex

from wavegen.engine import resolve_device, resolve_engine
from wavegen.errors import WavegenError
from wavegen.live.controls import initial_controls
from wavegen.live.player import LivePlayer, ModelInfo
from wavegen.live.server import LiveServer
from wavegen.models.io import require_label_only
from wavegen.models.two_level import TwoLevel, load_generator

MAX_LEAD = 2.0  # seconds


def start_live(model: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
               port: int = 8100, engine: str = "auto", device: str = "cpu",
               genre: str | None = None, lead: float = 0.15, threads: int = 1) -> LiveServer:
    """Load a model (default: the packaged one) and serve it live; returns the started server.

    Args:
        genre: the label a take starts with (default: the model's first).
        lead: seconds of audio generated ahead of the playhead: higher survives more CPU
            hiccups, lower hears changes sooner (a change lands within about lead + 50 ms).
        threads: cores the ``cpu`` engine uses. One by default: the browser that plays the
            take needs a core too, and a model of the packaged one's size generates as fast
            on one core as split over two (docs/live.md).

    Raises:
        WavegenError: a bad model, engine, device, genre or lead, or an address in use.
    """
    if not 0.05 <= lead <= MAX_LEAD:
        raise WavegenError(f"--lead must be from 0.05 to {MAX_LEAD} seconds, got {lead}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise WavegenError(f"--threads must be a whole number >= 1, got {threads}")
    dev = resolve_device(device)
    loaded = load_generator(model)
    two = loaded if isinstance(loaded, TwoLevel) else None
    if two is None:
        assert not isinstance(loaded, TwoLevel)
        net, info = loaded
        require_label_only(info, "the packaged model" if model is None else f"model file "
                           f"{model}", "wavegen live")
    else:  # the page's sampling controls steer the planner; the renderer keeps its own
        net, info = two.renderer, dataclasses.replace(
            two.renderer_info, null_condition=two.planner_info.null_condition,
            synth_defaults=two.planner_info.synth_defaults)
    weights = net.export_weights()
    resolve_engine(engine, dev, weights)
    defaults = dict(info.synth_defaults)
    if not info.null_condition:
        defaults["guidance"] = 1.0  # nothing to guide with; the page disables the slider
    controls = initial_controls(info.vocab, info.label_kind, defaults, genre)
    player = LivePlayer(ModelInfo(weights, info.vocab, info.label_kind, info.sample_rate,
                                  info.null_condition, two), controls, engine=engine,
                        device=str(dev), lead=lead, threads=threads)
    flags = [*(["--model", str(model)] if model is not None else []),
             *(["--engine", engine] if engine != "auto" else []),
             *(["--device", str(dev)] if dev.type != "cpu" else []),
             "--threads", str(threads)]
    try:
        return LiveServer(player, host, port, " ".join(map(shlex.quote, flags))).start()
    except BaseException:
        player.close()
        raise


__all__ = ["LiveServer", "start_live"]
