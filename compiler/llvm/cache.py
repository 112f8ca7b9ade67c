"""The compile cache: optimized object code on disk, keyed by content, verified on load.

Key. sha256 over every input that changes the object code: the IR in canonical form (below),
the host CPU name and feature string, the triple, the LLVM and llvmlite versions, kiln's
version, the opt level, and this module's code-generation settings. Fields are
length-prefixed, so no two different field tuples hash the same byte string.

Canonical form (:func:`canonical_ir`). The same model built twice in one process gets other
layer names (``dense`` then ``dense_3``); they reach the IR only as names, which must not cost
a full LLVM compile. The key therefore hashes LLVM's own printing of the parsed module after
erasing every name that cannot change the code:

* all local names (arguments, basic blocks, instructions), which have no meaning to LLVM, and
  struct type names, which have none to code generation for a CPU;
* the names of *internal or private* functions and globals in kiln's own namespace
  (``kiln.``, ``kiln_``, ``k<digits>_``, ``const.``; letters, digits, ``_ . -`` only), unless
  the name also appears anywhere else in the printed module (inline asm, metadata, attribute
  or string contents: a reference by name).

Everything else stays: instructions, constants, types, attributes, the triple, and the names
of every externally visible symbol (``kiln_main``, ``kiln_team_size``, ``kiln_cycles``, the
runtime functions such as ``GOMP_parallel`` or ``expf``: the linker and the runtime look them
up by name; ``kiln_main*``, ``kiln_team*`` and ``kiln_cycles*`` are never erased whatever their
linkage). Why the namespace restriction: LLVM gives meaning to some names even on internal
definitions; an internal function called ``expf`` is taken to *be* ``expf`` (calls to it get
constant-folded as the C function), so erasing such a name could map two different programs to
one key. LLVM knows no name in kiln's namespace (it also hashes names, but only for profile-guided
and ThinLTO optimization, which kiln does not run), and an internal symbol is never exported, so
two IR texts with equal canonical forms are the same module up to names that neither LLVM nor
the runtime interprets: they compile to the same instructions, and their objects differ only in
the names of internal symbols. (Text that does not parse is keyed by its exact bytes; compiling
it then fails as usual.) The ``; ModuleID`` line is a comment, ignored by the parser.

A hit on an entry stored from *different* text with the same canonical form (``renamed`` in
:class:`CacheEvent`; each entry records the sha256 of its exact IR text) returns the stored
object, whose internal symbol names are those of the module that was compiled first. Its
optimized IR and assembly are *not* taken from the entry (they would show the other module's
names): they are regenerated from this module's IR when first asked for (one optimizer run,
see :meth:`CompiledModule.regenerate_ir_after_from`), so ``--dump llvm-opt,asm`` shows this
module. Computing a key parses the IR (about 80 ms for a 1 MB module), so a compile of text
seen before skips that: ``<root>/aliases/<e[:2]>/<e>``, named by the cheap hash ``e`` of the
exact text and the same host fields (:func:`exact_key`), holds ``e`` and the entry key. An
alias is followed only if its first line is ``e`` (a swapped or stale alias is ignored), and
the entry it leads to is verified like any other; a missing or damaged alias only costs the
parse.

Location. ``$KILN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/kiln``, else ``~/.cache/kiln``;
entries live in ``<root>/objects/<key[:2]>/<key>.kobj``. A user-owned directory: nothing is
shared between users.

Entry format (little-endian)::

    magic "KILNOBJ\\0" | format version u16 | reserved u16 | key (32 bytes, raw sha256)
    | sha256 of payload (32 bytes) | payload length u64 | payload
    payload = metadata length u32 | metadata JSON (name, exports, optimized IR, sha256 of the
              exact IR text) | object code

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
import itertools
import json
import os
import re
import struct
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite.binding as llvm
import llvmlite.ir as lir

from compiler.llvm import jit
from compiler.llvm.jit import CodegenError, CompiledModule
from compiler.llvm.target import host_target, llvm_lock, target_machine

__all__ = ["CacheEvent", "CompileCache", "KilnCacheWarning", "cache_key", "canonical_ir",
           "exact_key", "default_cache_dir", "get_or_compile", "kiln_version", "MAGIC", "FORMAT_VERSION"]

MAGIC = b"KILNOBJ\x00"
#: 2: keys hash the canonical IR form; metadata records the exact IR text's sha256
FORMAT_VERSION = 2
_HEADER = struct.Struct("<8sHH32s32sQ")
_META_LEN = struct.Struct("<I")
#: An alias file: "<exact key>\n<entry key>\n", both 64 hex digits.
_ALIAS_BYTES = 2 * 65

#: Code-generation settings baked into every object (see compiler.llvm.target). Part of the
#: key: changing them must not reuse objects built under the old ones.
CODEGEN_CONFIG = "reloc=default;codemodel=jitdefault;jit=1;fastmath=as-in-ir"

#: How :func:`canonical_ir` canonicalizes. Part of the key: a changed rule must not reuse
#: entries keyed under the old one.
CANONICAL_FORM = ("llvm-print;strip-non-debug-symbols;internal-names=kiln.|kiln_|k<n>_|const.;"
                  "unreferenced;v1")

#: Internal/private symbol names the canonical form may erase: kiln's own namespace, plain
#: characters only (see the module docstring for why no other name).
_ERASABLE_NAME = re.compile(r"(?:kiln[._]|k[0-9]+_|const\.)[A-Za-z0-9_.\-]*\Z")
#: Never erased, whatever their linkage: the runtime looks these symbols up by name.
_NEVER_ERASED = ("kiln_main", "kiln_team", "kiln_cycles")
_LOCAL_LINKAGE = (llvm.Linkage.internal, llvm.Linkage.private)

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


def _erasable(value: llvm.ValueRef) -> bool:
    name = value.name
    return (value.linkage in _LOCAL_LINKAGE and not value.is_declaration
            and _ERASABLE_NAME.match(name) is not None and not name.startswith(_NEVER_ERASED))


def canonical_ir(ir: str | lir.Module) -> str | None:
    """``ir`` as LLVM prints it with every name erased that cannot change the object code, or
    None if the text does not parse.

    Erased: local names, struct type names, and names of internal/private symbols in kiln's
    namespace that nothing refers to by name (see the module docstring for the rule and why it
    is safe). Two IR texts with the same canonical form compile to the same instructions;
    their objects differ at most in the names of internal symbols.
    """
    text = jit.ir_text(ir)
    tm = target_machine(3)  # the strip pass needs a pass builder; no codegen happens here
    with llvm_lock:
        ctx = llvm.create_context()
        try:
            mod = llvm.parse_assembly(text, context=ctx)
        except RuntimeError:
            return None
        try:
            globals_ = list(itertools.chain(mod.functions, mod.global_variables))
            erasable = [(v, v.name) for v in globals_ if _erasable(v)]
            # The pass erases the names of *all* local-linkage symbols; those outside kiln's
            # namespace are named back below.
            kept = [(v, v.name) for v in globals_
                    if v.linkage in _LOCAL_LINKAGE and not _erasable(v)]
            pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options())
            mpm = llvm.create_new_module_pass_manager()
            mpm.add_strip_non_debug_symbols_pass()
            mpm.run(mod, pb)
            while True:
                for value, name in kept:
                    value.name = name
                    if value.name != name:  # cannot happen (names were unique); be sure
                        return None
                printed = str(mod)
                # A name that still appears somewhere (asm, metadata, strings) may be referred
                # to by name: keep it, and look again (it may contain another such name).
                referenced = [(v, n) for v, n in erasable if n in printed]
                if not referenced:
                    return printed
                kept += referenced
                erasable = [(v, n) for v, n in erasable if n not in printed]
        finally:
            mod.close()


def cache_key(ir: str | lir.Module, opt_level: int = 3) -> str:
    """Hex sha256 identifying the object code that ``ir`` compiles to on this host.

    The IR enters in canonical form (:func:`canonical_ir`), so IR differing only in local or
    internal names gets the same key; IR that does not parse is keyed by its exact text.
    """
    text = jit.ir_text(ir)
    canonical = canonical_ir(text)
    ir_fields = ([b"exact-ir-text", text.encode("utf-8")] if canonical is None else
                 [b"canonical-ir", CANONICAL_FORM.encode(), canonical.encode("utf-8")])
    return _hash_fields(ir_fields, opt_level)


def exact_key(ir: str | lir.Module, opt_level: int = 3) -> str:
    """Hex sha256 of the exact IR text and everything else :func:`cache_key` covers: cheap
    (no parsing), the name of the alias that leads a repeated compile of the same text straight
    to its entry."""
    return _hash_fields([b"alias-exact-ir-text", jit.ir_text(ir).encode("utf-8")], opt_level)


def _hash_fields(ir_fields: list[bytes], opt_level: int) -> str:
    host = host_target()
    fields = [
        b"kiln-object-cache", str(FORMAT_VERSION).encode(), *ir_fields,
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
    entry reached the disk (``store_error`` says why not). ``renamed`` (hits only): the entry
    was stored from IR text that differs from this one only in names the key ignores; the
    object's internal symbols carry that module's names, and the optimized IR and assembly are
    regenerated from this IR on demand.
    """

    kind: str
    key: str
    path: Path | None
    reason: str | None = None
    stored: bool = False
    store_error: str | None = None
    renamed: bool = False
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def hit(self) -> bool:
        return self.kind == "hit"

    def __str__(self) -> str:
        s = f"cache {self.kind} {self.key[:16]}"
        if self.reason:
            s += f" ({self.reason})"
        if self.renamed:
            s += " (renamed: IR differs from the stored one only in names)"
        if self.kind == "miss":
            s += " stored" if self.stored else f" not stored ({self.store_error})"
        return s


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        tk = time.perf_counter()
        alias = exact_key(text, opt_level)
        key = self._follow_alias(alias)
        if key is None:
            key = cache_key(text, opt_level)
        path = self.path_for(key)
        t0 = time.perf_counter()
        try:
            meta, obj = self._read(path, key)
        except _Invalid as e:
            reason = str(e)
        else:
            renamed = meta.get("ir_sha256") != _text_digest(text)
            try:
                # A renamed hit must not show the stored optimized IR: it has the other
                # module's names (regenerated from ``text`` on demand instead).
                module = jit.load_object(obj, name=name, exports=meta["exports"],
                                         opt_level=opt_level, ir_before=text,
                                         ir_after=None if renamed else meta.get("ir_after"))
            except (CodegenError, KeyError, TypeError) as e:
                reason = f"load failed: {e}"
            else:
                if renamed:
                    module.regenerate_ir_after_from(text)
                self._store_alias(alias, key)
                self.hits += 1
                return module, CacheEvent("hit", key, path, renamed=renamed,
                                          timings={"key": t0 - tk,
                                                   "load": time.perf_counter() - t0})
        t1 = time.perf_counter()
        self.misses += 1
        module = jit.compile_ir(text, name=name, opt_level=opt_level)
        t2 = time.perf_counter()
        store_error = self._store(path, key, module)
        if store_error is None:
            self._store_alias(alias, key)
        timings = {"key": t0 - tk, "lookup": t1 - t0, "compile": t2 - t1,
                   "store": time.perf_counter() - t2}
        return module, CacheEvent("miss", key, path, reason=reason, stored=store_error is None,
                                  store_error=store_error, timings=timings)

    def probe(self, ir: str | lir.Module, opt_level: int = 3) -> CacheEvent:
        """Verify the entry for ``ir`` without compiling or loading it: would this be a hit, and
        if not, why not? (``kind`` is ``"hit"`` or ``"miss"`` with its ``reason``; ``renamed``
        as for :meth:`get_or_compile`.)"""
        text = jit.ir_text(ir)
        key = cache_key(text, opt_level)
        path = self.path_for(key)
        try:
            meta, _ = self._read(path, key)
        except _Invalid as e:
            return CacheEvent("miss", key, path, reason=str(e))
        return CacheEvent("hit", key, path, renamed=meta.get("ir_sha256") != _text_digest(text))

    # ---------------------------------------------------------------------------- aliases
    def alias_path(self, alias: str) -> Path:
        """Where the alias named by an :func:`exact_key` lives."""
        return self.root / "aliases" / alias[:2] / alias

    def _follow_alias(self, alias: str) -> str | None:
        """The entry key an alias file records for this exact text, or None (absent, damaged,
        or written for other text: its first line must be ``alias`` itself, so a swapped or
        stale alias file is never followed). The entry it leads to is verified as any other."""
        try:
            with open(self.alias_path(alias), "rb") as f:
                raw = f.read(_ALIAS_BYTES + 1)
        except OSError:
            return None
        lines = raw.decode("ascii", "replace").split("\n")
        if len(raw) != _ALIAS_BYTES or len(lines) != 3 or lines[0] != alias or lines[2] \
                or re.fullmatch(r"[0-9a-f]{64}", lines[1]) is None:
            return None
        return lines[1]

    def _store_alias(self, alias: str, key: str) -> None:
        """Record ``alias -> key`` atomically; a failure only costs the next lookup a parse."""
        if self._follow_alias(alias) == key:
            return
        try:
            _write_atomically(self.alias_path(alias), f"{alias}\n{key}\n".encode("ascii"))
        except OSError:
            pass

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
        """The bytes of a cache entry for ``module`` under ``key`` (``module.ir_before``, the
        IR it was compiled from, must be known: its digest tells renamed hits apart)."""
        if module.ir_before is None:
            raise ValueError(f"module '{module.name}' has no IR text; cannot cache it")
        meta = json.dumps({"name": module.name, "exports": list(module.exports),
                           "ir_after": module.ir_after, "ir_sha256": _text_digest(module.ir_before),
                           "opt_level": module.opt_level,
                           "kiln_version": kiln_version()}).encode("utf-8")
        payload = _META_LEN.pack(len(meta)) + meta + module.object_code
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, bytes.fromhex(key),
                              hashlib.sha256(payload).digest(), len(payload))
        return header + payload

    def _store(self, path: Path, key: str, module: CompiledModule) -> str | None:
        """Write the entry atomically; return None, or why it could not be written (and warn)."""
        try:
            _write_atomically(path, self.encode_entry(key, module))
            return None
        except OSError as e:
            err = f"{type(e).__name__}: {e.strerror or e}"
            warnings.warn(f"kiln compile cache at {self.root} is not usable ({err}); "
                          f"compiled '{module.name}' without caching", KilnCacheWarning,
                          stacklevel=3)
            return err


def _write_atomically(path: Path, data: bytes) -> None:
    """Publish ``data`` at ``path`` whole or not at all: written to a temporary file in the
    same directory, then renamed over it (atomic on POSIX and Windows). Raises OSError."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:16]}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        tmp = None
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

