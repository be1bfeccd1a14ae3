"""What this machine offers sr-stream: versions, CPU features, GPUs. Torch-free.

Package versions are read from installed metadata (``importlib.metadata``), never by importing
the package, so asking about torch or tensorrt costs nothing and cannot fail. GPUs are listed
by ``nvidia-smi`` when it exists. Used by ``sr-stream info`` and written into benchmark results.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata

from srstream import __version__

__all__ = [
    "CPU_FEATURES",
    "PACKAGES",
    "CpuInfo",
    "GpuInfo",
    "SystemInfo",
    "collect",
    "cpu_info",
    "gpus",
    "package_version",
]

#: Distribution names reported by ``sr-stream info`` (import names may differ).
PACKAGES = (
    "numpy", "onnxruntime", "onnxruntime-gpu", "av", "opencv-python-headless", "opencv-python",
    "opencv-contrib-python-headless", "torch", "onnx", "onnxslim", "safetensors", "tensorrt",
    "pycuda", "pillow-heif", "pillow-jxl-plugin",
)

#: /proc/cpuinfo flag -> what it buys us.
CPU_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA3",
    "avx512f": "AVX-512 foundation",
    "avx512bw": "AVX-512 byte/word",
    "avx512_vnni": "AVX-512 VNNI (int8 dot products)",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16",
    "amx_tile": "AMX tiles",
    "amx_bf16": "AMX BF16 matrix multiply",
    "amx_int8": "AMX INT8 matrix multiply",
}


def package_version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class CpuInfo:
    """``model`` is the brand string, which a virtual machine may shorten to "AMD EPYC"; ``family`` and
    ``model_number`` are the CPUID family and model the (virtual) machine presents (AMD family 23 model 1 is
    first-generation Zen, family 25 Zen 3 or 4), and ``microarchitecture`` archspec's name for the newest
    microarchitecture whose instructions the CPU shows (``zen``, ``zen3``, ``sapphirerapids``...; for an
    AMD CPU whose flags name only a generic level, its Zen generation by family and model; None when
    not read from this machine). In a VM all three describe the CPU presented, not the host's."""

    model: str
    logical_cores: int
    usable_cores: int
    features: dict[str, bool]
    family: int | None = None
    model_number: int | None = None
    microarchitecture: str | None = None

    def describe(self) -> str:
        """``AMD EPYC (zen; family 23 model 1)``: the brand and, where known, what kind of core it is."""
        known = [self.microarchitecture or ""]
        if self.family is not None and self.model_number is not None:
            known.append(f"family {self.family} model {self.model_number}")
        detail = "; ".join(k for k in known if k)
        return f"{self.model} ({detail})" if detail else self.model


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_mib: int
    compute_capability: str
    driver: str


@dataclass(frozen=True)
class SystemInfo:
    srstream: str
    python: str
    platform: str
    cpu: CpuInfo
    memory_gib: float | None
    packages: dict[str, str | None]
    gpus: list[GpuInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def cpu_info(cpuinfo_text: str | None = None, *, microarchitecture: bool = False) -> CpuInfo:
    """CPU model, family and model numbers, core counts and SIMD/AMX features (Linux ``/proc/cpuinfo``;
    elsewhere the features are reported as absent and the model comes from :mod:`platform`); with
    ``microarchitecture``, also this machine's microarchitecture's name (archspec reads its catalogue
    for it once per process: 0.28 s on a 2-core first-generation Zen; the engine's own calls skip it)."""
    text = _read("/proc/cpuinfo") if cpuinfo_text is None else cpuinfo_text
    model, vendor, flags = platform.processor() or platform.machine(), "", set()
    numbers: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "vendor_id":
            vendor = value.strip()
        elif key in ("cpu family", "model") and value.strip().isdigit():
            numbers[key] = int(value)
        elif key == "flags":
            flags = set(value.split())
            break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return CpuInfo(
        model=model,
        logical_cores=os.cpu_count() or 1,
        usable_cores=usable,
        features={flag: flag in flags for flag in CPU_FEATURES},
        family=numbers.get("cpu family"),
        model_number=numbers.get("model"),
        microarchitecture=(_microarchitecture(vendor, numbers.get("cpu family"), numbers.get("model"))
                           if microarchitecture and cpuinfo_text is None else None),
    )


#: AMD's Zen generations by CPUID family and model ranges, as Linux sets its ZEN1..ZEN5 feature bits
#: (``arch/x86/kernel/cpu/amd.c``); Zen+ is counted as Zen, as archspec does.
_AMD_ZEN = {23: (("zen", ((0x00, 0x2F), (0x50, 0x5F))),
                 ("zen2", ((0x30, 0x4F), (0x60, 0x7F), (0x90, 0x91), (0xA0, 0xAF)))),
            25: (("zen3", ((0x00, 0x0F), (0x20, 0x5F))), ("zen4", ((0x10, 0x1F), (0x60, 0xAF)))),
            26: (("zen5", ((0x00, 0x2F), (0x40, 0x4F), (0x60, 0x7F))),)}


def amd_zen(family: int | None, model: int | None) -> str | None:
    """``zen4``: the Zen generation of an AMD CPUID family and model (None for other ones)."""
    for name, ranges in _AMD_ZEN.get(family if family is not None else -1, ()):
        if model is not None and any(lo <= model <= hi for lo, hi in ranges):
            return name
    return None


def _microarchitecture(vendor: str = "", family: int | None = None, model: int | None = None) -> str | None:
    """This machine's microarchitecture as archspec (Spack's CPU catalogue) names it from the CPU's
    vendor and instruction flags; None without archspec. A virtual machine that hides a flag archspec
    requires (a 2-core Zen 4 VM shows neither ``pku`` nor ``flush_l1d``) gets only a generic level
    (``x86_64_v4``) from it; an AMD CPU is then named from its CPUID family and model (:func:`amd_zen`),
    which the VM presents as it presents the flags."""
    try:
        import archspec.cpu
    except ImportError:
        return None
    name = archspec.cpu.host().name
    if name.startswith("x86_64") and vendor == "AuthenticAMD":
        return amd_zen(family, model) or name
    return name


def total_memory(default: int = 8 << 30) -> int:
    """This machine's physical memory in bytes (``default`` where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return default


def _memory_gib() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def gpus(timeout: float = 10.0) -> list[GpuInfo]:
    """NVIDIA GPUs as ``nvidia-smi`` reports them; empty when there is no driver or GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    query = "index,name,memory.total,compute_cap,driver_version"
    try:
        proc = subprocess.run(
            [smi, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 5 and parts[0].isdigit():
            memory = int(parts[2]) if parts[2].isdigit() else 0
            found.append(GpuInfo(int(parts[0]), parts[1], memory, parts[3], parts[4]))
    return found


def collect(*, microarchitecture: bool = True) -> SystemInfo:
    """Everything above, in one record (``microarchitecture``: see :func:`cpu_info`)."""
    return SystemInfo(
        srstream=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        cpu=cpu_info(microarchitecture=microarchitecture),
        memory_gib=_memory_gib(),
        packages={dist: package_version(dist) for dist in PACKAGES},
        gpus=gpus(),
    )
