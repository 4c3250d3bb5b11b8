"""``python -m wavegen.engine``: compile the cpu engine's kernel now (``make`` runs it at
install), so the first ``wavegen synth`` loads it from numba's cache in about a second."""

from wavegen.engine.cpu import warm

print("compiling the CPU kernel of the cpu engine (once per install, about 20-60 s)...",
      flush=True)
counts = warm()
print(f"CPU kernel ready ({counts['cache_misses']} compiled, {counts['cache_hits']} loaded from "
      "the cache)")
