"""The ``triton`` engine: the generation loop as one Triton kernel launch per chunk.

Two kernels share the engine's ring buffers, so either can continue what the other started:

- ``tile`` (:mod:`wavegen.engine.triton_kernels`): one program per 16 batch rows runs every
  layer, streaming the weights from L2 once per step; scales with the batch over the SMs.
- ``persistent`` (:mod:`wavegen.engine.triton_persistent`): one program per layer keeps its
  weights on chip and hands activations to the next program; for small batches (latency).

Registered only when it can run: a CUDA device, or ``TRITON_INTERPRET=1`` (Triton's CPU
interpreter, which must be set before this module is imported; the tests use it on tiny
shapes). docs/engines.md has the design and its speed model.

Local conditioning: both kernels take a pointer to the (B, F, L, G) table, its frame count
and the hop, and read frame ``t // hop`` at the engine's time ``t`` themselves (a constexpr
flag compiles the load away without a table); the host only checks, once per launch, that the
launch ends inside the plan.
"""

from __future__ import annotations

import os

import torch

from wavegen.engine.local import check_steps, checked_local
from wavegen.engine.sampling import check_sampled_rows
from wavegen.errors import WavegenError
from wavegen.models.weights import LocalBias, WaveNetWeights


def triton_usable() -> bool:
    """True if Triton is installed and has a GPU or its interpreter to run on."""
    if not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"):
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _pow2(n: int) -> int:
    """The block size of a dimension: a power of two, at least 16 (``tl.dot``'s minimum)."""
    return max(16, 1 << max(0, (int(n) - 1).bit_length()))


BLOCK_ROWS = 16  # batch rows per program of the tile kernel
# Warps per program, chosen from the sm_90 compile reports (docs/engines.md): the fewest
# bytes of local memory per thread at the BENCH shape.
TILE_WARPS = 16
PERSISTENT_WARPS = 8
PERSISTENT_MAX_ROWS = 16  # engine rows up to which ``auto`` picks the persistent kernel
PERSISTENT_LAYER_BYTES = 160 << 10  # a layer's fp32 weights that one SM can keep on chip


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def pick_kernel(weights: WaveNetWeights, rows: int, sm_count: int | None) -> str:
    """``persistent`` when the rows fit one tile, a layer's weights fit one SM and every layer
    gets its own SM (sm_count None: no limit, the interpreter); otherwise ``tile``."""
    from wavegen.engine import layer_bytes

    fits = (rows <= PERSISTENT_MAX_ROWS and layer_bytes(weights) <= PERSISTENT_LAYER_BYTES
            and (sm_count is None or weights.n_layers + 1 <= sm_count))
    return "persistent" if fits else "tile"


class TritonEngine:
    """Triton kernel engine. ``step`` for teacher forcing, ``run`` for sampling many steps."""

    name = "triton"

    def __init__(self, weights: WaveNetWeights, cond: torch.Tensor,
                 local: LocalBias | None = None, kernel: str = "auto") -> None:
        """weights and cond (B, C) on the same device (CUDA, or CPU under the interpreter);
        local: the optional local conditioning (table (B, F, L, G) on that device);
        kernel: ``auto``, ``tile`` or ``persistent``."""
        if cond.device.type != "cuda" and not _interpreted():
            raise WavegenError("the triton engine needs a CUDA device (or TRITON_INTERPRET=1); "
                               f"got {cond.device}: use --engine cpu or cached")
        w = weights.to(cond.device, torch.float32)
        self.w = weights
        L, R, H = w.n_layers, w.residual_channels, w.gate_channels // 2
        dev = cond.device
        with torch.no_grad():
            self.dil_wt = w.dil_weight.transpose(1, 2).contiguous()  # (L, 2R, G)
            self.gate_bias = w.gate_biases(cond.float()).contiguous()  # (B, L, G)
            self.skip_wt = w.skip_weight.transpose(1, 2).contiguous()  # (L, H, S)
            zero_r = w.res_weight.new_zeros(1, R, H)
            # (L, H, R) and (L, R): zero after the last layer
            self.res_wt = torch.cat([w.res_weight, zero_r]).transpose(1, 2).contiguous()
            self.res_bias = torch.cat([w.res_bias, w.res_bias.new_zeros(1, R)]).contiguous()
            self.skip_bias = w.skip_bias.sum(0).contiguous()  # (S,)
            self.out1_wt, self.out2_wt = w.out1_weight.T.contiguous(), w.out2_weight.T.contiguous()
        self.out1_bias, self.out2_bias, self.embed = w.out1_bias, w.out2_bias, w.embed.contiguous()
        self._w_dev = w  # the weights on the engine's device (set_cond re-projects with them)
        self.dil = torch.tensor(w.dilations, dtype=torch.int64, device=dev)
        self.qoff = torch.cumsum(self.dil, 0) - self.dil
        self.QS = int(sum(w.dilations))
        self.B = cond.shape[0]
        self.queue = torch.zeros(self.B, self.QS, R, device=dev)  # ring buffers
        self.dims = (L, R, H, w.skip_channels, w.n_classes, self.QS)
        self.blocks = {"BM": BLOCK_ROWS, "BR": _pow2(R), "BH": _pow2(H),
                       "BS": _pow2(w.skip_channels), "BA": _pow2(w.n_classes)}
        self.t = 0
        self.local: LocalBias | None = None
        if local is not None:
            self.set_local(local)
        sms = (torch.cuda.get_device_properties(dev).multi_processor_count
               if dev.type == "cuda" else None)
        if kernel == "auto":
            kernel = pick_kernel(w, self.B, sms)
        elif kernel == "persistent" and (self.B > 64 or (sms and w.n_layers + 1 > sms)):
            raise WavegenError(f"the persistent kernel needs <= 64 rows and one SM per layer "
                               f"plus one ({w.n_layers + 1}); use kernel='tile'")
        elif kernel not in ("tile", "persistent"):
            raise WavegenError(f"unknown Triton kernel '{kernel}'; known: auto, tile, "
                               "persistent")
        self.kernel = kernel

    def _launch(self, rows: int, inputs, logits_out, uniforms, codes_out, n: int,
                temperature: float, top_p: float, guidance: float, teacher: bool,
                guided: bool) -> None:
        check_steps(self.local, self.t, n)  # before launching: the kernels do not check
        import triton

        from wavegen.engine.triton_kernels import wavenet_steps

        if self.kernel == "persistent":
            self._launch_persistent(rows, inputs, logits_out, uniforms, codes_out, n,
                                    temperature, top_p, guidance, teacher, guided)
            return
        table, n_frames, hop = self._local_args()
        wavenet_steps[(triton.cdiv(rows, BLOCK_ROWS),)](
            *self._weights(), self.dil, self.qoff, self.queue, table, inputs, logits_out,
            uniforms, codes_out, self.t, n, rows, n_frames, hop, temperature, top_p, guidance,
            *self.dims, TEACHER=teacher, GUIDED=guided, TOP_P=top_p < 1.0,
            LOCAL=self.local is not None, **self.blocks, num_warps=TILE_WARPS)
        self.t += n

    def _launch_persistent(self, rows: int, inputs, logits_out, uniforms, codes_out, n: int,
                           temperature: float, top_p: float, guidance: float, teacher: bool,
                           guided: bool) -> None:
        """Run the persistent kernel; ``rows`` are the sampled rows (all rows if teacher)."""
        from wavegen.engine.triton_persistent import wavenet_persistent

        L, dev, B = self.dims[0], self.queue.device, self.B
        BM = _pow2(B)
        # The interpreter runs programs one after another: sampling, where the head feeds layer
        # 0 within a launch, then runs the kernel's serial schedule on one program.
        serial = not teacher and _interpreted()
        nbuf = n if teacher else 2
        act = torch.empty(L, nbuf, BM, self.blocks["BR"], device=dev)
        skipbuf = torch.empty(L, nbuf, BM, self.blocks["BS"], device=dev)
        codebuf = torch.zeros(nbuf, BM, dtype=torch.int64, device=dev)
        flags = torch.zeros(L + 2, dtype=torch.int32, device=dev)
        scratch = torch.empty(BM, self.blocks["BA"], device=dev)
        if not teacher:  # the start codes, for the conditional rows and their twins
            codebuf[0, :rows] = inputs[:, 0]
            if guided:
                codebuf[0, rows:2 * rows] = inputs[:, 0]
            flags[L + 1] = 1
        blocks = {k: v for k, v in self.blocks.items() if k != "BM"}
        table, n_frames, hop = self._local_args()
        wavenet_persistent[(1 if serial else L + 1,)](
            *self._weights(), self.dil, self.qoff, self.queue, table, act, skipbuf, codebuf,
            flags, scratch, inputs, logits_out, uniforms, codes_out, self.t, n, B, rows, nbuf,
            n_frames, hop, temperature, top_p, guidance, *self.dims, TEACHER=teacher,
            GUIDED=guided, TOP_P=top_p < 1.0, LOCAL=self.local is not None, SERIAL=serial,
            BM=BM, **blocks, num_warps=PERSISTENT_WARPS)
        self.t += n

    def set_cond(self, cond: torch.Tensor) -> None:
        """New conditioning (B, C) from the next sample on, written into the gate-bias buffer
        the kernels read (the caches carry on)."""
        with torch.no_grad():
            self.gate_bias.copy_(self._w_dev.gate_biases(cond.to(self.gate_bias.device).float()))

    def set_local(self, local: LocalBias) -> None:
        """Replace the local-conditioning table (B, F, L, G) on the engine's device (F may
        differ: a plan extended while generating); frames are still counted from step 0, so
        the launches after this read frame ``t // hop`` of the new table."""
        local = checked_local(local, self.w, self.B, self.queue.device)
        self.local = LocalBias(local.table.contiguous(), local.hop)

    def _local_args(self) -> tuple[torch.Tensor, int, int]:
        """The kernels' local-conditioning arguments: table, frame count, hop (with no table,
        any fp32 buffer and ones: the kernels compile the load away)."""
        if self.local is None:
            return self.gate_bias, 1, 1
        return self.local.table, self.local.n_frames, self.local.hop

    def _weights(self) -> tuple[torch.Tensor, ...]:
        """The laid-out weights in the kernels' argument order."""
        return (self.embed, self.dil_wt, self.gate_bias, self.skip_wt, self.res_wt,
                self.res_bias, self.skip_bias, self.out1_wt, self.out1_bias, self.out2_wt,
                self.out2_bias)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one."""
        dev = self.queue.device
        inputs = codes.reshape(self.B, 1).to(dev, torch.int64).contiguous()
        logits = torch.empty(self.B, self.w.n_classes, 1, device=dev)
        dummy = torch.zeros(1, device=dev)
        self._launch(self.B, inputs, logits, dummy, dummy.long(), 1, 1.0, 1.0, 1.0, True, False)
        return logits[:, :, 0]

    def feed(self, codes: torch.Tensor, chunk: int = 4096) -> None:
        """Teacher-force codes (B, T) through the caches (a primer), discarding the logits."""
        dev = self.queue.device
        check_steps(self.local, self.t, codes.shape[1])  # the whole primer, before any launch
        if self.kernel == "persistent":  # its hand-off buffers hold a whole teacher chunk
            chunk = min(chunk, 128)
        dummy = torch.zeros(1, device=dev)
        for start in range(0, codes.shape[1], chunk):
            part = codes[:, start:start + chunk].to(dev, torch.int64).contiguous()
            logits = torch.empty(self.B, self.w.n_classes, part.shape[1], device=dev)
            self._launch(self.B, part, logits, dummy, dummy.long(), part.shape[1], 1.0, 1.0,
                         1.0, True, False)

    def run(self, prev: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0,
            top_p: float = 1.0, guidance: float = 1.0) -> torch.Tensor:
        """prev (Bs,) long, uniforms (Bs, n) -> codes (Bs, n); see ``CpuEngine.run``."""
        Bs, n = uniforms.shape
        guided = check_sampled_rows(self.B, Bs, guidance)
        dev = self.queue.device
        inputs = prev.reshape(Bs, 1).to(dev, torch.int64).contiguous()
        codes = torch.empty(Bs, n, dtype=torch.int64, device=dev)
        self._launch(Bs, inputs, torch.zeros(1, device=dev), uniforms.to(dev).float().contiguous(),
                     codes, n, float(temperature), float(top_p), float(guidance), False, guided)
        return codes
