"""Host target detection: kiln's view of the machine must be llvmlite's, never a constant."""
import llvmlite
import llvmlite.binding as llvm
import pytest

from compiler.llvm.target import host_target, target_machine


def test_host_target_is_cached_and_matches_llvmlite():
    host = host_target()
    assert host_target() is host
    assert host.cpu == llvm.get_host_cpu_name()
    assert host.features == llvm.get_host_cpu_features().flatten()
    assert dict(host.feature_map) == dict(llvm.get_host_cpu_features())
    assert host.triple == llvm.get_process_triple()
    assert host.data_layout == str(host.target_machine.target_data)
    assert host.llvm_version == tuple(llvm.llvm_version_info)
    assert host.llvmlite_version == llvmlite.__version__
    assert host.arch == host.triple.split("-")[0]
    assert host.cpu and host.cpu != "generic"


def test_has_feature_follows_the_feature_map():
    host = host_target()
    fmap = llvm.get_host_cpu_features()
    for feat in ("sse2", "avx", "avx2", "fma", "avx512f", "neon"):
        assert host.has_feature(feat) == bool(fmap.get(feat, False)), feat
    assert host.has_feature("+" + "avx2") == host.has_feature("avx2")
    assert not host.has_feature("no-such-feature-anywhere")


def test_vector_width_follows_the_features():
    host = host_target()
    fmap = llvm.get_host_cpu_features()
    if fmap.get("avx512f"):
        expected = 64
    elif fmap.get("avx2") or fmap.get("avx"):
        expected = 32
    else:
        expected = 16
    assert host.vector_width_bytes() == expected
    assert host.vector_lanes(4) == expected // 4
    assert host.vector_lanes(8) == expected // 8
    with pytest.raises(ValueError):
        host.vector_lanes(0)
    assert f"vector={expected * 8}-bit" in host.describe()


def test_target_machine_per_opt_level():
    assert target_machine(3) is host_target().target_machine
    assert target_machine(0) is target_machine(0)
    assert target_machine(0) is not target_machine(3)
    assert target_machine(0).triple == host_target().triple
    with pytest.raises(ValueError, match="opt_level"):
        target_machine(4)
