"""``wavegen live``: the page, and a websocket that streams the take and carries the controls.

aiohttp serves both: HTTP for the page's files and one websocket per listener, with the
framing, ping/close handling and size limits of a maintained library. The event loop only
parses and checks messages; generation runs in the player's thread
(:class:`~wavegen.live.player.LivePlayer`), which posts its audio frames and events back to the
loop.

Routes::

    GET /                 the page
    GET /static/<file>    its script, audio worklet and style sheet
    GET /ws               the websocket (one listener at a time)

Page -> server messages (JSON text)::

    {"type": "controls", "id": 7, "weights": {"rock": 1, "jazz": 0.5}, "temperature": 0.9,
     "top_p": 0.9, "guidance": 8}                      any subset of the controls
    {"type": "played", "take": 1, "samples": 12000, "playing": true}   the playhead
    {"type": "pause", "paused": true}
    {"type": "seed", "seed": 42}                        a new take (seed optional: random)
    {"type": "record", "take": 1, "samples": 12000}     the automation file of what was played

Server -> page: binary audio frames (:mod:`wavegen.live.player`) and JSON events: ``hello``,
``take``, ``applied`` (a change's first sample and its latency), ``stats`` (each second),
``recording`` and ``error`` (a message for the listener; ``fatal`` when the page must stop).

Same host rules as ``wavegen listen serve``: loopback by default, a warning otherwise, and a
loopback-bound server answers only to loopback ``Host`` names (DNS rebinding); the websocket
also refuses another site's ``Origin``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from wavegen.errors import WavegenError
from wavegen.listen.server import SECURITY_HEADERS, is_loopback
from wavegen.live.player import LivePlayer

log = logging.getLogger(__name__)

MAX_MESSAGE = 16 * 1024  # bytes: a controls message is well under 1 KB
SEED_MAX = 2**32 - 1
KINDS = "controls, played, pause, seed, record"
STATS_EVERY = 1.0  # seconds
PAGE_FILES = {"index.html": "text/html", "live.js": "text/javascript",
              "worklet.js": "text/javascript", "style.css": "text/css"}
BUSY = ("wavegen live is already playing in another tab or window: close it there, then "
        "reload this page (one listener at a time)")


def page_files() -> dict[str, bytes]:
    """The page's files, from the package."""
    folder = resources.files("wavegen.live") / "page"
    return {name: (folder / name).read_bytes() for name in PAGE_FILES}


class Refused(WavegenError):
    """A message the server turns down; the text goes to the page."""


class LiveApp:
    """The aiohttp application around one player."""

    def __init__(self, player: LivePlayer, loopback: bool, synth_flags: str = "") -> None:
        self.player = player
        self.loopback = loopback
        self.synth_flags = synth_flags  # --model/--engine/--device/--threads to render again
        self.page = page_files()
        self.listener: web.WebSocketResponse | None = None
        self.app = web.Application(middlewares=[self._guard], client_max_size=MAX_MESSAGE)
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/ws", self._websocket)

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        if self.loopback and not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
            return web.json_response({"error": "unexpected Host header"}, status=421)
        response = await handler(request)
        if not isinstance(response, web.WebSocketResponse):
            response.headers.update(SECURITY_HEADERS)
            response.headers["Cache-Control"] = "no-store"
        return response

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=self.page["index.html"], content_type="text/html",
                            charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "index.html" or name not in self.page:
            raise web.HTTPNotFound(text="not found")
        return web.Response(body=self.page[name], content_type=PAGE_FILES[name],
                            charset="utf-8")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return web.json_response({"error": "websocket from another site refused"},
                                     status=403)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=20.0)
        await ws.prepare(request)
        if self.listener is not None:
            await ws.send_json({"type": "error", "fatal": True, "message": BUSY})
            await ws.close(code=4409, message=b"busy")
            return ws
        self.listener = ws
        try:
            await self._serve_listener(ws)
        finally:
            self.listener = None
        return ws

    async def _serve_listener(self, ws: web.WebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def emit(kind: str, payload: Any) -> None:  # from the generation thread
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, payload))
            except RuntimeError:  # the loop has closed: the server is stopping
                pass

        async def send() -> None:
            while True:
                kind, payload = await queue.get()
                if kind == "audio":
                    await ws.send_bytes(payload)
                else:
                    await ws.send_json(payload)

        async def stats() -> None:
            while True:
                await asyncio.sleep(STATS_EVERY)
                queue.put_nowait(("event", self.player.stats()))

        hello = self.player.connect(emit, seed=secrets.randbelow(SEED_MAX + 1))
        await ws.send_json(hello)
        tasks = [asyncio.create_task(send()), asyncio.create_task(stats())]
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._reply(msg.data)
                    if reply is not None:
                        queue.put_nowait(("event", reply))
                elif msg.type == WSMsgType.BINARY:
                    queue.put_nowait(("event", _error("send JSON text messages, not binary")))
        finally:
            self.player.disconnect()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _reply(self, text: str) -> dict[str, Any] | None:
        """Handle one message; a refused one gets an ``error`` event and changes nothing."""
        msg_id = None
        try:
            try:
                msg = json.loads(text)
            except ValueError as err:
                raise Refused(f"not valid JSON: {err}") from None
            if not isinstance(msg, dict):
                raise Refused("a message is a JSON object with a 'type'")
            msg_id = msg.get("id")
            kind = msg.get("type")
            if kind == "controls":
                if not (isinstance(msg_id, int) and not isinstance(msg_id, bool)):
                    raise Refused("a controls message needs an integer 'id'")
                change = {k: v for k, v in msg.items() if k not in ("type", "id")}
                self.player.change(change, msg_id)
                return None
            if kind == "played":
                _fields(msg, {"take", "samples", "playing"})
                self.player.played(_integer(msg["take"], "take"),
                                   _integer(msg["samples"], "samples"),
                                   _boolean(msg["playing"], "playing"))
                return None
            if kind == "pause":
                _fields(msg, {"paused"})
                self.player.pause(_boolean(msg["paused"], "paused"))
                return None
            if kind == "seed":
                seed = msg.get("seed")
                seed = secrets.randbelow(SEED_MAX + 1) if seed is None else _integer(
                    seed, "seed", SEED_MAX)
                return self.player.new_take(seed)
            if kind == "record":
                _fields(msg, {"take", "samples"})
                rec = self.player.recording(_integer(msg["take"], "take"),
                                            _integer(msg["samples"], "samples"))
                rec["flags"] = self.synth_flags
                return rec
            if kind is None:
                raise Refused(f"a message needs a 'type': one of {KINDS}")
            raise Refused(f"unknown message type {str(kind)[:40]!r}; known: {KINDS}")
        except WavegenError as err:
            return _error(str(err), msg_id if isinstance(msg_id, int) else None)
        except Exception:  # a bug must not take the server down: log it, tell the page
            log.exception("could not handle a message")
            return _error("the server could not handle that message (see its log)")


def _error(message: str, msg_id: int | None = None) -> dict[str, Any]:
    return {"type": "error", "message": message, **({"id": msg_id} if msg_id is not None
                                                    else {})}


def _fields(msg: dict[str, Any], needed: set[str]) -> None:
    missing = sorted(needed - set(msg))
    if missing:
        raise Refused(f"a {msg['type']} message needs {', '.join(missing)}")


def _integer(value: Any, name: str, high: float = 2**53) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise Refused(f"{name} must be a whole number from 0 to {high:.0f}, got "
                      f"{str(value)[:40]!r}")
    return value


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Refused(f"{name} must be true or false, got {str(value)[:40]!r}")
    return value


class LiveServer:
    """The app on its own event loop thread; ``url`` once started (port 0 picks one)."""

    def __init__(self, player: LivePlayer, host: str = "127.0.0.1", port: int = 8100,
                 synth_flags: str = "") -> None:
        self.host, self.port = host, port
        self.loopback = is_loopback(host)
        self.live = LiveApp(player, self.loopback, synth_flags)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LiveServer:
        """Bind and serve on a background thread's event loop.

        Raises:
            WavegenError: the address cannot be bound.
        """
        async def up() -> None:
            self._runner = web.AppRunner(self.live.app, access_log=None, handle_signals=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = self._runner.addresses[0][1]

        self._thread = threading.Thread(target=self._loop.run_forever, name="wavegen-live-web",
                                        daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(up(), self._loop).result(timeout=30)
        except OSError as err:
            self.stop()
            raise WavegenError(f"cannot listen on {self.host}:{self.port}: "
                               f"{err.strerror or err}; choose another --port or --host"
                               ) from err
        return self

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    def stop(self) -> None:
        """Close the listener's websocket and the server, then stop the player."""
        if self._thread is not None:
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop
                                                 ).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self._thread = None
        self.live.player.close()


def serve_forever(server: LiveServer) -> None:
    """Block until interrupted (Ctrl-C or SIGTERM), then stop cleanly."""
    if not server.loopback:
        log.warning("listening on %s: anyone who can reach this machine can play the model "
                    "and use its CPU; use a trusted network or an SSH tunnel", server.host)
    log.info("wavegen live at %s (open it in a browser and press Play; Ctrl-C stops)",
             server.url)
    try:
        threading.Event().wait()
    finally:
        server.stop()

