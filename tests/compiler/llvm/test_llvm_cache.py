"""The compile cache: hits skip the optimizer, damaged entries are rebuilt (never run), misses say
why, an unusable directory degrades to plain compiling, and concurrent writers both succeed."""
import dataclasses
import multiprocessing
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from llvm_testkernels import concurrent_worker, fused_fma_relu_module, run_fused

from compiler.llvm import cache as cache_mod
from compiler.llvm import jit
from compiler.llvm.cache import (FORMAT_VERSION, MAGIC, CompileCache, KilnCacheWarning, cache_key,
                                 default_cache_dir, get_or_compile)
from compiler.llvm.target import host_target

_HEADER_SIZE = struct.calcsize("<8sHH32s32sQ")


@pytest.fixture(autouse=True)
def _private_cache_env(tmp_path, monkeypatch):
    """Never touch the real user cache: every test gets its own default directory."""
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path / "env-cache"))


@pytest.fixture
def cache(tmp_path):
    return CompileCache(tmp_path / "cache")


def _check_runs(module, seed=0):
    got, want = run_fused(module, 1000, seed=seed)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- location, key

def test_default_dir_precedence(tmp_path, monkeypatch):
    assert default_cache_dir() == tmp_path / "env-cache"
    monkeypatch.delenv("KILN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "kiln"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/not/allowed")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "kiln"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "kiln"


def test_module_level_get_or_compile_uses_kiln_cache_dir(tmp_path):
    module, event = get_or_compile(fused_fma_relu_module(), name="envdir")
    assert event.kind == "miss" and event.stored
    assert event.path.is_file()
    assert (tmp_path / "env-cache") in event.path.parents
    _check_runs(module)
    _, again = get_or_compile(fused_fma_relu_module(), name="envdir")
    assert again.kind == "hit"


def test_key_covers_ir_opt_level_and_host(monkeypatch):
    ir = str(fused_fma_relu_module())
    key = cache_key(ir)
    assert key == cache_key(fused_fma_relu_module())  # Module and its text agree
    assert len(key) == 64
    assert cache_key(str(fused_fma_relu_module(salt=1.0))) != key
    assert cache_key(ir, opt_level=2) != key
    host = host_target()
    for change in ({"cpu": "some-other-cpu"}, {"features": host.features + ",+imaginary"},
                   {"llvm_version": (0, 0, 1)}, {"llvmlite_version": "0.0.0"}):
        monkeypatch.setattr(cache_mod, "host_target",
                            lambda change=change: dataclasses.replace(host, **change))
        assert cache_key(ir) != key, change
    monkeypatch.setattr(cache_mod, "host_target", host_target)
    monkeypatch.setattr(cache_mod, "kiln_version", lambda: "999.0")
    assert cache_key(ir) != key


# ---------------------------------------------------------------------------------- hit, miss

def test_miss_then_hit_skips_the_optimizer(cache):
    ir = fused_fma_relu_module()
    assert cache.probe(ir).reason == "absent"
    m1, e1 = cache.get_or_compile(ir, name="k")
    assert (e1.kind, e1.reason, e1.stored) == ("miss", "absent", True)
    assert m1.source == "compile"
    assert cache.probe(ir).kind == "hit"

    before = jit.stats.snapshot()
    m2, e2 = cache.get_or_compile(ir, name="k")
    after = jit.stats.snapshot()
    assert e2.kind == "hit" and e2.hit and e2.reason is None and e2.key == e1.key
    assert after["optimizations"] == before["optimizations"]  # no LLVM optimizer on a hit
    assert after["parses"] == before["parses"]
    assert after["object_loads"] == before["object_loads"] + 1
    assert m2.source == "object"
    assert m2.object_code == m1.object_code
    assert m2.ir_after == m1.ir_after and m2.ir_before == m1.ir_before
    assert m2.assembly() == m1.assembly()  # dumps still work on a hit
    _check_runs(m2)
    assert (cache.hits, cache.misses) == (1, 1)
    assert "hit" in str(e2) and "absent" in str(e1)


# --------------------------------------------------------------------------- damaged entries

def _truncate_header(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes()[:20])


def _empty(path: Path, other: Path) -> None:
    path.write_bytes(b"")


def _truncate_payload(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _flip_object_byte(path: Path, other: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    path.write_bytes(bytes(data))


def _foreign(path: Path, other: Path) -> None:
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(500))


def _swapped(path: Path, other: Path) -> None:
    shutil.copyfile(other, path)


def _stale_version(path: Path, other: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, len(MAGIC), FORMAT_VERSION + 1)
    path.write_bytes(bytes(data))


def _trailing(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes() + b"extra")


def _huge_length(path: Path, other: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, _HEADER_SIZE - 8, 2**63)
    path.write_bytes(bytes(data))


def _rehashed(payload: bytes, path: Path) -> None:
    """Rewrite the entry around ``payload`` with a *correct* checksum for it."""
    import hashlib
    head = bytearray(path.read_bytes()[:_HEADER_SIZE])
    head[_HEADER_SIZE - 40:] = hashlib.sha256(payload).digest() + struct.pack("<Q", len(payload))
    path.write_bytes(bytes(head) + payload)


def _bad_metadata(path: Path, other: Path) -> None:
    _rehashed(struct.pack("<I", 5) + b"{nope" + b"\x7fELF", path)


def _non_object(path: Path, other: Path) -> None:
    meta = b'{"exports": ["fused_fma_relu"], "ir_after": null}'
    _rehashed(struct.pack("<I", len(meta)) + meta + b"not an object" * 20, path)


@pytest.mark.parametrize("damage, reason", [
    (_truncate_header, "truncated: header (20 of"),
    (_empty, "truncated: header (0 of"),
    (_truncate_payload, "truncated: payload"),
    (_huge_length, "truncated: payload"),
    (_flip_object_byte, "corrupt: payload checksum mismatch"),
    (_foreign, "foreign: bad magic"),
    (_swapped, "key mismatch"),
    (_stale_version, f"stale: format version {FORMAT_VERSION + 1}"),
    (_trailing, "corrupt: trailing bytes"),
    (_bad_metadata, "corrupt: bad metadata"),
    (_non_object, "load failed"),
])
def test_damaged_entry_is_detected_and_rebuilt(cache, damage, reason):
    ir = fused_fma_relu_module()
    _, first = cache.get_or_compile(ir)
    _, other = cache.get_or_compile(fused_fma_relu_module(salt=9.0))
    damage(first.path, other.path)

    before = jit.stats.snapshot()
    module, event = cache.get_or_compile(ir)
    after = jit.stats.snapshot()
    assert event.kind == "miss"
    assert event.reason.startswith(reason), event.reason
    assert event.stored
    assert after["optimizations"] == before["optimizations"] + 1  # rebuilt, not executed
    assert module.source == "compile"
    _check_runs(module)
    # The rebuilt entry is whole again.
    assert cache.probe(ir).kind == "hit"
    _, healed = cache.get_or_compile(ir)
    assert healed.kind == "hit"


def test_directory_in_place_of_entry_is_unreadable_and_not_fatal(cache):
    ir = fused_fma_relu_module()
    path = cache.path_for(cache_key(ir))
    path.mkdir(parents=True)
    with pytest.warns(KilnCacheWarning):
        module, event = cache.get_or_compile(ir)
    assert event.kind == "miss" and event.reason.startswith("unreadable")
    assert not event.stored and event.store_error
    _check_runs(module)


# ---------------------------------------------------------------------- unusable directory

def test_unwritable_cache_dir_falls_back_to_compiling(tmp_path, monkeypatch):
    # A file where the directory should be: mkdir fails even for root, unlike chmod.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("occupied")
    monkeypatch.setenv("KILN_CACHE_DIR", str(blocker))
    for _ in range(2):
        with pytest.warns(KilnCacheWarning, match="not usable"):
            module, event = get_or_compile(fused_fma_relu_module(), name="nocache")
        assert event.kind == "miss" and not event.stored
        assert event.store_error
        assert "not stored" in str(event)
        _check_runs(module)
    assert blocker.read_text() == "occupied"


def test_probe_never_compiles(cache):
    before = jit.stats.snapshot()
    event = cache.probe(fused_fma_relu_module(salt=3.0))
    assert event.kind == "miss" and event.reason == "absent"
    assert jit.stats.snapshot() == before


# ------------------------------------------------------------------------------ concurrency

def test_two_processes_compiling_the_same_entries_both_succeed(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding LLVM state
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    salts = [11.0, 12.0, 13.0]
    procs = [ctx.Process(target=concurrent_worker,
                         args=(str(tmp_path / "shared"), salts, barrier, queue))
             for _ in range(2)]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():  # pragma: no cover - only on a hang
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    for status, kinds, ok in results:
        assert status == "ok", kinds
        assert ok
        assert len(kinds) == len(salts)
    shared = CompileCache(tmp_path / "shared")
    for salt in salts:
        assert shared.probe(fused_fma_relu_module(salt=salt)).kind == "hit"
    # No temporary files left behind by either writer.
    assert not [p for p in (tmp_path / "shared").rglob("*.tmp")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module, event = shared.get_or_compile(fused_fma_relu_module(salt=12.0))
    assert event.kind == "hit"
    _check_runs(module, seed=12)
