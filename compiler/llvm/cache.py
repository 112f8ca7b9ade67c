"""The compile cache: optimized object code on disk, keyed by content, verified on load.

Key. sha256 over every input that changes the object code: the IR text, the host CPU name and
feature string, the triple, the LLVM and llvmlite versions, kiln's version, the opt level, and
this module's code-generation settings. Fields are length-prefixed, so no two different field
tuples hash the same byte string.

Location. ``$KILN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/kiln``, else ``~/.cache/kiln``;
entries live in ``<root>/objects/<key[:2]>/<key>.kobj``. A user-owned directory: nothing is
shared between users.

Entry format (little-endian)::

    magic "KILNOBJ\\0" | format version u16 | reserved u16 | key (32 bytes, raw sha256)
    | sha256 of payload (32 bytes) | payload length u64 | payload
    payload = metadata length u32 | metadata JSON (name, exports, optimized IR) | object code

Writes go to a temporary file in the entry's own directory and are published with
``os.replace``, which is atomic on POSIX and Windows: a reader sees the old entry or the new one,
never a mix, and two processes writing the same entry both succeed (the last one wins, and both
wrote the same bytes). There is no fsync: an entry torn by a power loss fails verification and is
rebuilt, which is cheaper than syncing every compile.

Loading verifies magic, format version, key and payload checksum *before* any byte reaches the
linker, so a truncated, corrupted, foreign or swapped file is reported as a miss with its reason
(:class:`CacheEvent`) and rebuilt, never executed. An unusable cache directory degrades to
compiling without caching, with a :class:`KilnCacheWarning`.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite.ir as lir

from compiler.llvm import jit
from compiler.llvm.jit import CodegenError, CompiledModule
from compiler.llvm.target import host_target

__all__ = ["CacheEvent", "CompileCache", "KilnCacheWarning", "cache_key", "default_cache_dir",
           "get_or_compile", "kiln_version", "MAGIC", "FORMAT_VERSION"]

MAGIC = b"KILNOBJ\x00"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHH32s32sQ")
_META_LEN = struct.Struct("<I")

#: Code-generation settings baked into every object (see compiler.llvm.target). Part of the
#: key: changing them must not reuse objects built under the old ones.
CODEGEN_CONFIG = "reloc=default;codemodel=jitdefault;jit=1;fastmath=as-in-ir"

_FALLBACK_KILN_VERSION = "0.1.0"


class KilnCacheWarning(UserWarning):
    """The compile cache could not be used; kiln compiled without it."""


def kiln_version() -> str:
    """kiln's version from the installed package metadata (a constant when not installed)."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("kiln")
        except PackageNotFoundError:
            return _FALLBACK_KILN_VERSION
    except ImportError:  # pragma: no cover - importlib.metadata is stdlib since 3.8
        return _FALLBACK_KILN_VERSION


def default_cache_dir() -> Path:
    """``$KILN_CACHE_DIR``, else ``$XDG_CACHE_HOME/kiln``, else ``~/.cache/kiln``.

    Read on every call, so a changed environment takes effect without restarting. A relative
    XDG_CACHE_HOME is ignored, as the XDG base-directory specification requires.
    """
    explicit = os.environ.get("KILN_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "kiln"
    return Path.home() / ".cache" / "kiln"


def cache_key(ir: str | lir.Module, opt_level: int = 3) -> str:
    """Hex sha256 identifying the object code that ``ir`` compiles to on this host."""
    host = host_target()
    fields = [
        b"kiln-object-cache", str(FORMAT_VERSION).encode(),
        jit.ir_text(ir).encode("utf-8"),
        host.cpu.encode(), host.features.encode(), host.triple.encode(),
        ".".join(map(str, host.llvm_version)).encode(), host.llvmlite_version.encode(),
        kiln_version().encode(), str(opt_level).encode(), CODEGEN_CONFIG.encode(),
    ]
    h = hashlib.sha256()
    for f in fields:
        h.update(struct.pack("<Q", len(f)))
        h.update(f)
    return h.hexdigest()


@dataclass(frozen=True)
class CacheEvent:
    """What one cache lookup did, and why.

    ``kind`` is ``"hit"`` (object loaded, nothing optimized) or ``"miss"`` (compiled). ``reason``
    says why it missed: ``"absent"``, ``"truncated: ..."``, ``"corrupt: payload checksum
    mismatch"``, ``"foreign: bad magic"``, ``"key mismatch: ..."``, ``"stale: format version
    ..."``, ``"unreadable: ..."``, ``"load failed: ..."``. ``stored`` says whether the rebuilt
    entry reached the disk (``store_error`` says why not).
    """

    kind: str
    key: str
    path: Path | None
    reason: str | None = None
    stored: bool = False
    store_error: str | None = None
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def hit(self) -> bool:
        return self.kind == "hit"

    def __str__(self) -> str:
        s = f"cache {self.kind} {self.key[:16]}"
        if self.reason:
            s += f" ({self.reason})"
        if self.kind == "miss":
            s += " stored" if self.stored else f" not stored ({self.store_error})"
        return s


class _Invalid(Exception):
    """An entry that failed verification; the message is the miss reason."""


class CompileCache:
    """A compile cache rooted at ``directory`` (default: :func:`default_cache_dir`)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.root = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        """Where the entry for ``key`` lives."""
        return self.root / "objects" / key[:2] / f"{key}.kobj"

    # ------------------------------------------------------------------------------ lookup
    def get_or_compile(self, ir: str | lir.Module, name: str | None = None,
                       opt_level: int = 3) -> tuple[CompiledModule, CacheEvent]:
        """Load the cached object for ``ir``, or compile it and store it; say which happened."""
        text = jit.ir_text(ir)
        if name is None:
            name = ir.name if isinstance(ir, lir.Module) and ir.name else "module"
        key = cache_key(text, opt_level)
        path = self.path_for(key)
        t0 = time.perf_counter()
        try:
            meta, obj = self._read(path, key)
        except _Invalid as e:
            reason = str(e)
        else:
            try:
                module = jit.load_object(obj, name=name, exports=meta["exports"],
                                         opt_level=opt_level, ir_before=text,
                                         ir_after=meta.get("ir_after"))
            except (CodegenError, KeyError, TypeError) as e:
                reason = f"load failed: {e}"
            else:
                self.hits += 1
                return module, CacheEvent("hit", key, path,
                                          timings={"load": time.perf_counter() - t0})
        t1 = time.perf_counter()
        self.misses += 1
        module = jit.compile_ir(text, name=name, opt_level=opt_level)
        t2 = time.perf_counter()
        store_error = self._store(path, key, module)
        timings = {"lookup": t1 - t0, "compile": t2 - t1, "store": time.perf_counter() - t2}
        return module, CacheEvent("miss", key, path, reason=reason, stored=store_error is None,
                                  store_error=store_error, timings=timings)

    def probe(self, ir: str | lir.Module, opt_level: int = 3) -> CacheEvent:
        """Verify the entry for ``ir`` without compiling or loading it: would this be a hit, and
        if not, why not? (``kind`` is ``"hit"`` or ``"miss"`` with its ``reason``.)"""
        key = cache_key(ir, opt_level)
        path = self.path_for(key)
        try:
            self._read(path, key)
        except _Invalid as e:
            return CacheEvent("miss", key, path, reason=str(e))
        return CacheEvent("hit", key, path)

    # --------------------------------------------------------------------------- on disk
    def _read(self, path: Path, key: str) -> tuple[dict, bytes]:
        """Read and verify an entry; raise :class:`_Invalid` with the miss reason."""
        try:
            with open(path, "rb") as f:
                header = f.read(_HEADER.size)
                if len(header) >= len(MAGIC) and header[:len(MAGIC)] != MAGIC:
                    raise _Invalid("foreign: bad magic")
                if len(header) < _HEADER.size:
                    raise _Invalid(f"truncated: header ({len(header)} of {_HEADER.size} bytes)")
                magic, version, _, entry_key, digest, length = _HEADER.unpack(header)
                if version != FORMAT_VERSION:
                    raise _Invalid(f"stale: format version {version}, expected {FORMAT_VERSION}")
                if entry_key != bytes.fromhex(key):
                    raise _Invalid(f"key mismatch: entry holds {entry_key.hex()[:16]}")
                # Compare with the file size before reading: a damaged length field must not
                # make us allocate whatever it claims.
                available = os.fstat(f.fileno()).st_size - _HEADER.size
                if available < length:
                    raise _Invalid(f"truncated: payload ({available} of {length} bytes)")
                payload = f.read(length)
                if len(payload) < length:  # shrank while we read it
                    raise _Invalid(f"truncated: payload ({len(payload)} of {length} bytes)")
                if f.read(1):
                    raise _Invalid("corrupt: trailing bytes after payload")
        except FileNotFoundError:
            raise _Invalid("absent") from None
        except OSError as e:
            raise _Invalid(f"unreadable: {e.strerror or e}") from None
        if hashlib.sha256(payload).digest() != digest:
            raise _Invalid("corrupt: payload checksum mismatch")
        try:
            (meta_len,) = _META_LEN.unpack_from(payload, 0)
            meta = json.loads(payload[_META_LEN.size:_META_LEN.size + meta_len].decode("utf-8"))
            if not isinstance(meta, dict) or not isinstance(meta.get("exports"), list):
                raise ValueError("metadata is not an object with exports")
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise _Invalid(f"corrupt: bad metadata ({e})") from None
        return meta, payload[_META_LEN.size + meta_len:]

    @staticmethod
    def encode_entry(key: str, module: CompiledModule) -> bytes:
        """The bytes of a cache entry for ``module`` under ``key``."""
        meta = json.dumps({"name": module.name, "exports": list(module.exports),
                           "ir_after": module.ir_after, "opt_level": module.opt_level,
                           "kiln_version": kiln_version()}).encode("utf-8")
        payload = _META_LEN.pack(len(meta)) + meta + module.object_code
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, bytes.fromhex(key),
                              hashlib.sha256(payload).digest(), len(payload))
        return header + payload

    def _store(self, path: Path, key: str, module: CompiledModule) -> str | None:
        """Write the entry atomically; return None, or why it could not be written (and warn)."""
        data = self.encode_entry(key, module)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            tmp = None
            return None
        except OSError as e:
            err = f"{type(e).__name__}: {e.strerror or e}"
            warnings.warn(f"kiln compile cache at {self.root} is not usable ({err}); "
                          f"compiled '{module.name}' without caching", KilnCacheWarning,
                          stacklevel=3)
            return err
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def get_or_compile(ir: str | lir.Module, name: str | None = None, opt_level: int = 3,
                   cache_dir: str | os.PathLike[str] | None = None
                   ) -> tuple[CompiledModule, CacheEvent]:
    """:meth:`CompileCache.get_or_compile` on ``cache_dir`` (default: :func:`default_cache_dir`,
    read from the environment at each call)."""
    return CompileCache(cache_dir).get_or_compile(ir, name=name, opt_level=opt_level)

