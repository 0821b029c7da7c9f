"""Mixed precision, TF32 and ``torch.compile`` of a fold (config keys ``precision``, ``tf32``, ``compile``).

``precision: auto`` is bf16 autocast on a CUDA device that has bf16 in hardware (compute
capability 8.0+: A100, H100, RTX 30xx and later), fp16 autocast with a gradient scaler on older
CUDA devices (V100, T4), and plain fp32 on the CPU. ``bf16``/``fp16`` force the choice (CPU
autocast included); ``fp32`` turns autocast off. The FixCLR loss and the cross-entropies are
always computed in at least fp32 (``fixclr.models.at_least_float32``).
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import nullcontext

import torch

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (not emulated)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def select_precision(requested: str, device_type: str, has_bf16: bool) -> str:
    """The precision a fold trains in: ``requested`` with ``auto`` resolved for the device.

    ``has_bf16`` says whether the (CUDA) device supports bf16; injected so that the choice is
    testable without the device. Asking for bf16 on a CUDA device without it is an error.
    """
    if requested == "auto":
        if device_type != "cuda":
            return "fp32"
        return "bf16" if has_bf16 else "fp16"
    if requested == "bf16" and device_type == "cuda" and not has_bf16:
        raise ValueError("precision: bf16 is not supported by this CUDA device (compute capability < 8.0); "
                         "use precision: fp16 or auto")
    return requested


def autocast(precision: str, device: torch.device):
    """The autocast context of the forward passes (a no-op context for fp32)."""
    if precision not in AUTOCAST_DTYPES:
        return nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for fp16 only (disabled, it passes the loss and step through unchanged)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def set_tf32(enabled: bool) -> None:
    """Allow (or forbid) TF32 in CUDA matmuls and cuDNN convolutions (Ampere and later)."""
    mode = "tf32" if enabled else "ieee"
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch >= 2.9
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot run here, or None when it can."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        return f"torch.compile does not support Python {sys.version.split()[0]}"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "triton is not installed"
    compiler = os.environ.get("CXX", "g++")
    return None if shutil.which(compiler) else f"no C++ compiler ({compiler}) on PATH"


def maybe_compile(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``torch.compile(module)``, or ``module`` itself with a message saying why compilation is unavailable."""
    reason = compile_unavailable(device)
    if reason:
        print(f"compile: true ignored: {reason}; training uncompiled", file=sys.stderr, flush=True)
        return module
    return torch.compile(module)
