"""The live server without a browser: its routes and host rules, a hostile client's messages
(each answered with an error, nothing changed, the stream carries on), one listener at a time,
pause, seeds, and a recording rendered back by ``synth`` sample for sample."""

import asyncio
import json
import struct

import aiohttp
import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.errors import WavegenError
from wavegen.live import start_live
from wavegen.live.player import HEADER
from wavegen.live.server import BUSY, MAX_MESSAGE
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.synth import synthesize

RATE = 8000


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny genre model with a null label (guidance works)."""
    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(n_layers=4, dilation_cycle=4, residual_channels=8,
                                gate_channels=16, skip_channels=8, n_cond=3))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("live") / "tiny.pt"
    save_model(path, net, RATE, ["blues", "jazz", "rock"], null_condition=True,
               synth_defaults={"temperature": 0.9, "top_p": 0.95, "guidance": 3.0})
    return path


@pytest.fixture
def server(model_path):
    srv = start_live(model_path, port=0, genre="jazz")
    yield srv
    srv.stop()


class Client:
    """A scripted page: reads frames, reports the playhead as if everything received played."""

    def __init__(self, ws):
        self.ws = ws
        self.take = None
        self.audio: dict[int, list[np.ndarray]] = {}
        self.events: list[dict] = []

    async def hello(self) -> dict:
        msg = await self.ws.receive_json(timeout=30)
        assert msg["type"] == "hello"
        self.take = msg["take"]
        await self.ready()
        return msg

    async def ready(self):
        """What the page's worklet says when a take starts: generation waits for it."""
        await self.send({"type": "played", "take": self.take, "samples": 0, "playing": False})

    def samples(self, take=None) -> int:
        return sum(len(a) for a in self.audio.get(take or self.take, []))

    async def pump(self, until, timeout=30.0, report=True):
        """Read messages until ``until(self)`` holds."""
        async def loop():
            while not until(self):
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.BINARY:
                    take, n, start = HEADER.unpack(msg.data[:HEADER.size])
                    assert start == self.samples(take)
                    pcm = np.frombuffer(msg.data[HEADER.size:], "<i2")
                    assert len(pcm) == n
                    self.audio.setdefault(take, []).append(pcm)
                    if report and take == self.take:
                        await self.send({"type": "played", "take": take,
                                         "samples": self.samples(), "playing": True})
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    event = json.loads(msg.data)
                    self.events.append(event)
                    if event["type"] == "take":
                        self.take = event["take"]
                        await self.ready()
                else:
                    raise AssertionError(f"connection ended: {msg.type} {msg.data}")
        await asyncio.wait_for(loop(), timeout)

    async def send(self, obj):
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    def errors(self):
        return [e for e in self.events if e["type"] == "error"]


def run(coro):
    return asyncio.run(coro)


async def _connect(session, server, **kw):
    ws = await session.ws_connect(server.url + "ws", **kw)
    client = Client(ws)
    return client, await client.hello()


def test_page_routes_and_headers(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            for path, kind in [("", "text/html"), ("static/live.js", "text/javascript"),
                               ("static/worklet.js", "text/javascript"),
                               ("static/style.css", "text/css")]:
                async with s.get(server.url + path) as r:
                    assert r.status == 200 and r.content_type == kind
                    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            for path in ["static/nope.js", "static/index.html", "static/..%2Fserver.py",
                         "api/test", "favicon.ico"]:
                async with s.get(server.url + path) as r:
                    assert r.status == 404, path
            async with s.get(server.url, headers={"Host": "evil.example"}) as r:
                assert r.status == 421
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(server.url + "ws", headers={"Origin": "http://evil.example"})
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(server.url + "ws", headers={"Host": "evil.example:80"})
    run(go())


def test_hello_describes_the_model_and_the_take(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            client, hello = await _connect(s, server)
            assert hello["rate"] == RATE and hello["labels"] == ["blues", "jazz", "rock"]
            assert hello["guided"] is True and hello["control_every"] == RATE // 20
            assert hello["controls"] == {"weights": {"jazz": 1.0}, "temperature": 0.9,
                                         "top_p": 0.95, "guidance": 3.0}
            await client.pump(lambda c: c.samples() >= RATE)
    run(go())


BAD_MESSAGES = [
    ("nonsense", "not valid JSON"),
    ("", "not valid JSON"),
    ("[]", "a message is a JSON object"),
    ("null", "a message is a JSON object"),
    ("1", "a message is a JSON object"),
    ('"controls"', "a message is a JSON object"),
    ("{}", "a message needs a 'type'"),
    ('{"type": "dance"}', "unknown message type 'dance'"),
    ('{"type": null}', "a message needs a 'type'"),
    ('{"type": ["controls"]}', "unknown message type"),
    ('{"type": "controls", "weights": {"rock": 1}}', "needs an integer 'id'"),
    ('{"type": "controls", "id": "1", "weights": {"rock": 1}}', "needs an integer 'id'"),
    ('{"type": "controls", "id": true, "weights": {"rock": 1}}', "needs an integer 'id'"),
    ('{"type": "controls", "id": 1, "weights": {"polka": 1}}', "unknown genre 'polka'"),
    ('{"type": "controls", "id": 1, "weights": {"rock": -2}}', "must be >= 0"),
    ('{"type": "controls", "id": 1, "weights": {"rock": 0}}', "all genre weights are zero"),
    ('{"type": "controls", "id": 1, "temperature": NaN}', "finite"),
    ('{"type": "controls", "id": 1, "temperature": Infinity}', "finite"),
    ('{"type": "controls", "id": 1, "temperature": 0}', "temperature"),
    ('{"type": "controls", "id": 1, "top_p": 2}', "top_p"),
    ('{"type": "controls", "id": 1, "guidance": -1}', "guidance"),
    ('{"type": "controls", "id": 1, "tempo": 120}', "unknown control(s) tempo"),
    ('{"type": "played"}', "needs playing, samples, take"),
    ('{"type": "played", "take": 1, "samples": -5, "playing": true}', "samples must be"),
    ('{"type": "played", "take": 1, "samples": 1e300, "playing": true}', "samples must be"),
    ('{"type": "played", "take": 1, "samples": 10, "playing": 1}', "playing must be true"),
    ('{"type": "played", "take": "1", "samples": 10, "playing": true}', "take must be"),
    ('{"type": "pause"}', "needs paused"),
    ('{"type": "pause", "paused": "yes"}', "paused must be true or false"),
    ('{"type": "seed", "seed": -1}', "seed must be a whole number"),
    ('{"type": "seed", "seed": 4294967296}', "seed must be a whole number"),
    ('{"type": "seed", "seed": 1.5}', "seed must be a whole number"),
    ('{"type": "seed", "seed": "abc"}', "seed must be a whole number"),
    ('{"type": "record", "take": 1}', "needs samples"),
    ('{"type": "record", "take": 1, "samples": 0}', "samples must be 1.."),
    ('{"type": "record", "take": 1, "samples": 1000000000}', "samples must be 1.."),
    ('{"type": "record", "take": 99, "samples": 10}', "that take is over"),
]


def test_every_bad_message_gets_an_error_and_the_take_plays_on(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            client, _ = await _connect(s, server)
            await client.pump(lambda c: c.samples() >= 2000)
            for text, _ in BAD_MESSAGES:
                await client.send(text)
            await client.ws.send_bytes(b"\x00\x01")
            await client.pump(lambda c: len(c.errors()) == len(BAD_MESSAGES) + 1)
            got = [e["message"] for e in client.errors()]
            for (text, want), message in zip(BAD_MESSAGES, got, strict=False):
                assert want in message, (text, message)
            assert "not binary" in got[-1]
            # nothing changed: the take is the same, its controls as they were, audio goes on
            n = client.samples()
            await client.pump(lambda c: c.samples() >= n + 4000)
            await client.send({"type": "record", "take": client.take, "samples": n})
            await client.pump(lambda c: c.events[-1]["type"] == "recording")
            assert client.events[-1]["automation"]["genre"] == [[0.0, {"jazz": 1.0}]]
            assert [e["type"] for e in client.events if e["type"] == "take"] == []
    run(go())


def test_an_oversized_message_closes_that_connection_only(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            client, _ = await _connect(s, server)
            await client.send("x" * (MAX_MESSAGE + 1))
            msg = await client.ws.receive(timeout=10)
            while msg.type == aiohttp.WSMsgType.BINARY:
                msg = await client.ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
            again, hello = await _connect(s, server)
            await again.pump(lambda c: c.samples() >= 2000)
    run(go())


def test_one_listener_at_a_time(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            first, _ = await _connect(s, server)
            await first.pump(lambda c: c.samples() >= 2000)
            second = await s.ws_connect(server.url + "ws")
            msg = await second.receive_json(timeout=10)
            assert msg == {"type": "error", "fatal": True, "message": BUSY}
            assert (await second.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE
            assert second.close_code == 4409
            n = first.samples()
            await first.pump(lambda c: c.samples() >= n + 4000)  # the first plays on
            await first.ws.close()
            third, hello = await _connect(s, server)  # the seat is free again: a new take
            assert hello["take"] == first.take + 1
            await third.pump(lambda c: c.samples() >= 2000)
    run(go())


def test_pause_stops_generation_and_resume_goes_on(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            client, _ = await _connect(s, server)
            await client.pump(lambda c: c.samples() >= 2000)
            await client.send({"type": "pause", "paused": True})
            try:  # drain what was in flight
                await client.pump(lambda c: False, timeout=0.5)
            except asyncio.TimeoutError:
                pass
            n = client.samples()
            with pytest.raises(asyncio.TimeoutError):
                await client.pump(lambda c: c.samples() > n, timeout=1.0)
            await client.send({"type": "pause", "paused": False})
            await client.pump(lambda c: c.samples() > n + 2000)
    run(go())


def test_a_seed_starts_a_new_take_and_the_same_seed_the_same_audio(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            client, _ = await _connect(s, server)
            takes = []
            for _ in range(2):
                await client.send({"type": "seed", "seed": 1234})
                await client.pump(lambda c: c.events and c.events[-1]["type"] == "take"
                                  and c.events[-1]["take"] not in takes)
                takes.append(client.take)
                assert client.events[-1]["seed"] == 1234
                await client.pump(lambda c: c.samples() >= 4000)
            a, b = (np.concatenate(client.audio[t])[:4000] for t in takes)
            np.testing.assert_array_equal(a, b)
            assert np.abs(a.astype(int)).max() > 0
    run(go())


def test_a_recorded_take_renders_back_sample_for_sample(server, model_path, tmp_path):
    async def go():
        async with aiohttp.ClientSession() as s:
            client, hello = await _connect(s, server)
            await client.send({"type": "seed", "seed": 77})
            await client.pump(lambda c: c.take == hello["take"] + 1 and c.samples() >= 1000)
            changes = [{"weights": {"rock": 1, "blues": 0.5}}, {"temperature": 1.3},
                       {"guidance": 1}, {"weights": {"blues": 1}, "top_p": 0.5},
                       {"guidance": 6.5}, {"weights": {"jazz": 2}}]
            for k, change in enumerate(changes):
                await client.send({"type": "controls", "id": k, **change})
                await client.pump(lambda c, k=k: any(e["type"] == "applied" and e["id"] == k
                                                      for e in c.events))
                n = client.samples()
                await client.pump(lambda c, n=n: c.samples() >= n + 1200)
            n = client.samples() - 123  # a recording ends mid-block
            await client.send({"type": "record", "take": client.take, "samples": n})
            await client.pump(lambda c: c.events[-1]["type"] == "recording")
            return client, client.events[-1]

    client, rec = run(go())
    assert rec["seed"] == 77 and rec["samples"] / RATE == rec["seconds"]
    assert rec["flags"] == f"--model {model_path} --threads 1"
    auto = tmp_path / "take.json"
    auto.write_text(json.dumps(rec["automation"]))
    out = tmp_path / "render.wav"
    synthesize(None, rec["seconds"], out=out, model=model_path, automation=auto, seed=77,
               threads=1)
    rendered, rate = sf.read(out, dtype="int16")
    played = np.concatenate(client.audio[client.take])[:rec["samples"]]
    assert rate == RATE and len(rendered) == rec["samples"]
    np.testing.assert_array_equal(rendered, played)
    applied = [e for e in client.events if e["type"] == "applied"]
    assert all(e["sample"] % (RATE // 20) == 0 for e in applied)


@pytest.mark.parametrize("kwargs,message", [
    ({"genre": "polka"}, "unknown genre 'polka'"),
    ({"lead": 0.0}, "--lead must be from"),
    ({"lead": float("nan")}, "--lead must be from"),
    ({"lead": 10.0}, "--lead must be from"),
    ({"engine": "warp"}, "unknown engine 'warp'"),
    ({"device": "tpu"}, "not a device name"),
    ({"device": "meta"}, "wavegen runs on cpu or cuda"),
    ({"model": "missing.pt"}, "missing.pt"),
])
def test_bad_start_options_are_refused(model_path, kwargs, message):
    kwargs = {"model": model_path, **kwargs}
    with pytest.raises(WavegenError, match=None) as err:
        start_live(port=0, **kwargs)
    assert message in str(err.value)


def test_a_port_in_use_is_refused_with_advice(server, model_path):
    with pytest.raises(WavegenError, match="choose another --port"):
        start_live(model_path, port=server.port)


def test_audio_frames_are_what_synth_writes():
    from wavegen.live.player import pcm16

    codes = torch.arange(256)
    raw = np.frombuffer(pcm16(codes, 256, RATE), "<i2")
    assert raw[0] == -32768 or raw[0] == -32767
    assert len(raw) == 256 and struct.calcsize("<IId") == HEADER.size == 16


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "70000"], ["--port", "x"],
                                  ["--lead-ms", "nan"], ["--lead-ms", "inf"],
                                  ["--lead-ms", "10"], ["--lead-ms", "5000"], ["--what"]])
def test_the_command_line_refuses_bad_flags(args, capsys):
    from wavegen.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["live", *args])
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


def test_the_command_line_reports_a_bad_genre(model_path, capsys):
    from wavegen.cli import main

    assert main(["live", "--model", str(model_path), "--genre", "polka"]) == 2
    assert "unknown genre 'polka'; known: blues, jazz, rock" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["live", "synth"])
@pytest.mark.parametrize("value", ["0", "-1", "nan", "1.5", "x", ""])
def test_threads_must_be_a_positive_whole_number(command, value, capsys):
    from wavegen.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--threads", value, *(["--genre", "rock"] if command == "synth" else [])])
    assert exit_.value.code == 2
    assert "--threads" in capsys.readouterr().err


@pytest.mark.parametrize("threads", [0, -2, 1.5, True, "2"])
def test_start_live_refuses_bad_threads(model_path, threads):
    with pytest.raises(WavegenError, match="--threads must be a whole number"):
        start_live(model_path, port=0, threads=threads)
