"""Machine description: CPU features, package versions, GPUs via nvidia-smi."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from srstream import sysinfo

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8 avx512_fp16
"""


def test_cpu_features_are_parsed() -> None:
    cpu = sysinfo.cpu_info(CPUINFO)
    assert cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu.features["amx_bf16"] and cpu.features["avx512_fp16"] and cpu.features["avx2"]
    assert set(cpu.features) == set(sysinfo.CPU_FEATURES)
    assert cpu.usable_cores >= 1 and cpu.logical_cores >= 1


def test_cpu_family_and_model_numbers_are_parsed_and_described() -> None:
    text = CPUINFO.replace("model name", "cpu family\t: 6\nmodel\t\t: 143\nmodel name")
    cpu = sysinfo.cpu_info(text)
    assert (cpu.family, cpu.model_number, cpu.microarchitecture) == (6, 143, None)  # not read from this machine
    assert cpu.describe() == "Intel(R) Xeon(R) Platinum 8480+ (family 6 model 143)"
    assert sysinfo.cpu_info(CPUINFO).describe() == "Intel(R) Xeon(R) Platinum 8480+"


def test_this_machine_s_microarchitecture_is_named_only_when_asked() -> None:
    pytest.importorskip("archspec")
    named = sysinfo.cpu_info(microarchitecture=True)
    assert named.microarchitecture and named.microarchitecture in named.describe()
    assert sysinfo.cpu_info().microarchitecture is None


@pytest.mark.parametrize(("family", "model", "zen"), [(23, 1, "zen"), (23, 0x31, "zen2"), (25, 0x01, "zen3"),
                                                     (25, 0x11, "zen4"), (25, 0x61, "zen4"), (26, 0x44, "zen5"),
                                                     (25, 0xF0, None), (6, 143, None), (None, None, None)])
def test_amd_zen_generation_comes_from_cpuid_family_and_model(family, model, zen) -> None:  # noqa: ANN001
    assert sysinfo.amd_zen(family, model) == zen


def test_amd_cpu_with_hidden_flags_is_named_by_its_family_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2-core Zen 4 VM hid ``pku`` and ``flush_l1d``, so archspec named it ``x86_64_v4`` only."""
    archspec_cpu = pytest.importorskip("archspec.cpu")
    monkeypatch.setattr(archspec_cpu, "host", lambda: archspec_cpu.TARGETS["x86_64_v4"])
    assert sysinfo._microarchitecture("AuthenticAMD", 25, 17) == "zen4"
    assert sysinfo._microarchitecture("AuthenticAMD", 25, 0xF0) == "x86_64_v4"  # a model not in the table
    assert sysinfo._microarchitecture("GenuineIntel", 6, 143) == "x86_64_v4"
    monkeypatch.setattr(archspec_cpu, "host", lambda: archspec_cpu.TARGETS["zen3"])
    assert sysinfo._microarchitecture("AuthenticAMD", 25, 17) == "zen3"  # archspec's name when it has one


def test_cpu_without_flags_reports_no_features() -> None:
    assert not any(sysinfo.cpu_info("").features.values())


def test_package_versions_come_from_metadata() -> None:
    import numpy

    assert sysinfo.package_version("numpy") == numpy.__version__
    assert sysinfo.package_version("no-such-distribution-xyz") is None


def test_no_nvidia_smi_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysinfo.shutil, "which", lambda _: None)
    assert sysinfo.gpus() == []


def test_gpus_are_parsed_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 81559, 9.0, 570.86'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    (gpu,) = sysinfo.gpus()
    assert (gpu.index, gpu.name, gpu.memory_mib, gpu.compute_capability) == (0, "NVIDIA H100 80GB HBM3", 81559, "9.0")


def test_failing_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert sysinfo.gpus() == []


def test_collect_is_json_serialisable() -> None:
    info = sysinfo.collect()
    data = json.loads(json.dumps(info.to_dict()))
    assert data["srstream"] and data["cpu"]["features"] and "torch" in data["packages"]
