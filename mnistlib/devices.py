"""Device choice and the two things every timing needs: synchronize, and autocast."""
from __future__ import annotations

import contextlib

import torch

from mnistlib.errors import ConfigError, MnistlibError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu. Asking for one that is absent is an error."""
    name = str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MnistlibError("device cuda was asked for, but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise MnistlibError("device mps was asked for, but MPS is not available")
    if name.split(":")[0] not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, not {name!r}")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for queued work, so the clock measures work done rather than work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bf16_supported(device: torch.device) -> bool:
    """Does the device compute in bf16 natively? On a CPU that takes AVX-512 BF16 (or AMX);
    elsewhere bf16 is emulated, many times slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast where asked for and the device supports it natively; else a no-op."""
    if bf16 and bf16_supported(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device: torch.device) -> str:
    """A human name for the device, for figures and JSON: e.g. 'NVIDIA H100 80GB HBM3'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        n = torch.get_num_threads()
        # the vector extension PyTorch's kernels use (AVX2, AVX512): the same model name covers
        # processors of very different speed
        return f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}), " \
               f"{n} thread{'s' if n > 1 else ''}"
    return device.type


def cpu_name() -> str:
    """The processor's model name, from /proc/cpuinfo where there is one."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"
