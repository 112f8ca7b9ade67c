"""The compile cache key ignores names that cannot change the code (local values, kiln's
internal symbols, the ModuleID comment) and nothing else: the same model built twice hits, a
renamed hit's dumps show the current module, and names LLVM or the runtime interprets (libc
names, external symbols, names referred to as text) stay in the key."""
from __future__ import annotations

import ctypes
import string
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.llvm import jit
from compiler.llvm import cache as cache_module
from compiler.llvm.cache import CompileCache, cache_key, canonical_ir, exact_key
from compiler.llvm.jit import CodegenError


@pytest.fixture(autouse=True)
def _private_cache_env(tmp_path, monkeypatch):
    """Never touch the real user cache."""
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path / "env-cache"))


@pytest.fixture
def cache(tmp_path):
    return CompileCache(tmp_path / "cache")


# ------------------------------------------------------------------------ the repro: a model

def test_same_model_built_twice_hits_and_runs_like_the_first():
    """Keras gives the second build other layer names (dense -> dense_3); the IR differs only
    in names, so the second compile is a cache hit, and it computes what the first does."""
    from frontend.bench.runner import _step_parts, copy_state
    from frontend.bench.suite import suite
    from runtime.program import Program

    entry = next(e for e in suite() if e.name == "mlp")
    x, y = entry.data
    programs = []
    for _ in range(2):
        graph, state, updates = _step_parts(entry.factory(), "train", [x[:64]], [y[:64]])
        programs.append(Program(graph, copy_state(state, "llvm"), updates, backend="llvm"))
    first, second = (p.compiled for p in programs)
    assert first.stage_text("llvm") != second.stage_text("llvm")  # other names in the IR...
    assert first.cache_event.kind == "miss"
    assert second.cache_event.kind == "hit" and second.cache_event.renamed  # ...same entry
    assert second.cache_event.key == first.cache_event.key
    assert second.module.source == "object"

    # Same seed, so the same initial state: one training step must agree exactly.
    outs = [p([x[:64], y[:64]]) for p in programs]
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(programs[0].state.values(), programs[1].state.values()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ a small module, renamed

_TEMPLATE = '''; ModuleID = "{module}"
target triple = "{triple}"

@"{table}" = private unnamed_addr constant [2 x {ty}] [{ty} {c0}, {ty} {c1}], align 16
@"{exported}" = global {ty} {c4}, align 8

define {linkage} {ty} @"{helper}"({ty} %"{a}", {ty} %"{b}") noinline nounwind {{
"{entry}":
  %"{v1}" = {op} {ty} %"{a}", %"{b}"
  %"{v2}" = {op2} {ty} %"{v1}", {c2}
  ret {ty} %"{v2}"
}}

declare {ty} @"{ext}"({ty}) nounwind

define i32 @"kiln_main"(ptr %"{p}") nounwind {{
"{entry2}":
  %"{l}" = load {ty}, ptr @"{table}"
  %"{r}" = call {ty} @"{helper}"({ty} %"{l}", {ty} {c3})
  %"{s}" = call {ty} @"{ext}"({ty} %"{r}")
  store {ty} %"{s}", ptr %"{p}"
  ret i32 0
}}
'''

#: What the module computes and which symbols it shows to the outside: every choice changes
#: the object code (or its symbol table), so it must change the key.
SEMANTIC_CHOICES: dict[str, list] = {
    "triple": ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"],
    "ty": ["i32", "i64"],
    "op": ["add", "sub", "mul", "xor"],
    "op2": ["add", "sub", "and", "or"],
    "linkage": ["internal", "private"],
    "ext": ["labs", "ext_b", "k7_external"],          # external: the linker looks it up
    "exported": ["kiln_team_size", "kiln_state", "k9_exported"],  # exported global
    **{f"c{i}": list(range(-3, 4)) for i in range(5)},
}

# No "e" in names: so no internal name is part of an external one ("k7_e" of "k7_external"),
# which would (rightly) keep it in the key as a possible reference by name.
_word = st.text(alphabet="abxyz_.-019", min_size=1, max_size=8)
_kiln_internal = st.one_of(st.builds("k{}_{}".format, st.integers(0, 999), _word),
                           st.builds("kiln.{}".format, _word), st.builds("const.{}".format, _word))
semantics = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SEMANTIC_CHOICES.items()})
names = st.fixed_dictionaries({
    "module": st.text(alphabet=string.ascii_letters + string.digits + "_.- ", max_size=12),
    "globals": st.lists(_kiln_internal, min_size=2, max_size=2, unique=True),
    "f1": st.lists(_word, min_size=5, max_size=5, unique=True),
    "f2": st.lists(_word, min_size=5, max_size=5, unique=True),
})


def render(sem: dict, nm: dict) -> str:
    table, helper = nm["globals"]
    a, b, v1, v2, entry = nm["f1"]
    p, l, r, s, entry2 = nm["f2"]
    return _TEMPLATE.format(**sem, module=nm["module"], table=table, helper=helper, a=a, b=b,
                            v1=v1, v2=v2, entry=entry, p=p, l=l, r=r, s=s, entry2=entry2)


@settings(max_examples=60, deadline=None)
@given(sem=semantics, names1=names, names2=names, field=st.sampled_from(sorted(SEMANTIC_CHOICES)),
       data=st.data())
def test_key_ignores_names_and_sees_every_other_change(sem, names1, names2, field, data):
    text1, text2 = render(sem, names1), render(sem, names2)
    # Both parse (else the key would fall back to the exact text and prove nothing here).
    assert canonical_ir(text1) is not None and canonical_ir(text2) is not None
    assert cache_key(text1) == cache_key(text2)

    other = data.draw(st.sampled_from([v for v in SEMANTIC_CHOICES[field] if v != sem[field]]))
    mutated = render({**sem, field: other}, names2)
    assert canonical_ir(mutated) is not None
    assert cache_key(mutated) != cache_key(text1), field


_SMALL = '''; ModuleID = "{layer}_model"
define internal void @"k1_{layer}.scale"(ptr %"p.{layer}.x", i64 %"n") noinline nounwind {{
entry:
  %"empty" = icmp sle i64 %"n", 0
  br i1 %"empty", label %"done", label %"loop"
loop:
  %"i" = phi i64 [0, %"entry"], [%"next", %"loop"]
  %"at.{layer}" = getelementptr inbounds float, ptr %"p.{layer}.x", i64 %"i"
  %"v" = load float, ptr %"at.{layer}"
  %"w" = fmul float %"v", {factor}
  store float %"w", ptr %"at.{layer}"
  %"next" = add i64 %"i", 1
  %"more" = icmp slt i64 %"next", %"n"
  br i1 %"more", label %"loop", label %"done"
done:
  ret void
}}

define i32 @"kiln_main"(ptr %"table") nounwind {{
entry:
  %"x.{layer}" = load ptr, ptr %"table"
  call void @"k1_{layer}.scale"(ptr %"x.{layer}", i64 5)
  ret i32 0
}}
'''


def small(layer: str, factor: str = "2.0") -> str:
    return _SMALL.format(layer=layer, factor=factor)


def run_small(module) -> np.ndarray:
    x = np.arange(1, 6, dtype=np.float32)
    table = (ctypes.c_void_p * 1)(x.ctypes.data)
    assert module.ctypes_function("kiln_main", ctypes.c_int32, [ctypes.c_void_p])(table) == 0
    return x


def test_renamed_hit_dumps_show_this_module_not_the_stored_one(cache):
    first, e1 = cache.get_or_compile(small("dense"), name="first")
    before = jit.stats.snapshot()
    hit, e2 = cache.get_or_compile(small("dense_3"), name="second")
    assert (e1.kind, e2.kind, e2.renamed, e2.key) == ("miss", "hit", True, e1.key)
    assert "renamed" in str(e2)
    assert jit.stats.snapshot()["optimizations"] == before["optimizations"]  # nothing optimized
    np.testing.assert_array_equal(run_small(hit), np.arange(1, 6) * 2.0)
    assert hit.object_code == first.object_code  # the stored object, linked as is

    # The optimized IR and assembly are this module's (regenerated on first use: exactly what
    # compiling this text gives), not the stored entry's.
    fresh = jit.compile_ir(small("dense_3"), name="fresh")
    assert hit.ir_before == small("dense_3")
    assert hit.ir_after == fresh.ir_after
    assert jit.stats.snapshot()["optimizations"] == before["optimizations"] + 2  # +fresh
    assert hit.assembly() == fresh.assembly()
    for text in (hit.ir_after, hit.assembly()):
        assert "k1_dense_3.scale" in text and "k1_dense.scale" not in text
    assert "k1_dense.scale" in first.assembly()
    assert cache.probe(small("dense_3")).renamed and not cache.probe(small("dense")).renamed


def test_exact_hit_uses_the_stored_optimized_ir(cache):
    first, _ = cache.get_or_compile(small("dense"))
    before = jit.stats.snapshot()
    again, event = cache.get_or_compile(small("dense"))
    assert event.kind == "hit" and not event.renamed and "renamed" not in str(event)
    assert again.ir_after == first.ir_after and again.assembly() == first.assembly()
    assert jit.stats.snapshot()["optimizations"] == before["optimizations"]


def _text_section(obj: bytes) -> bytes:
    """The bytes of the ELF64 object's ``.text`` section."""
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize)
               for i in range(shnum)]
    names_at = headers[shstrndx][4]
    for h in headers:
        name = obj[names_at + h[0]:obj.index(b"\0", names_at + h[0])]
        if name == b".text":
            return obj[h[4]:h[4] + h[5]]
    raise AssertionError("no .text section")


@pytest.mark.skipif(not jit._host_is_elf(), reason="reads ELF sections")
def test_texts_with_one_key_compile_to_the_same_instructions():
    a, b = jit.compile_ir(small("dense")), jit.compile_ir(small("other.layer-9"))
    assert cache_key(small("dense")) == cache_key(small("other.layer-9"))
    assert _text_section(a.object_code) == _text_section(b.object_code)
    assert a.object_code != b.object_code  # only the internal symbol's name differs
    assert b"k1_dense.scale" in a.object_code and b"k1_other.layer-9.scale" in b.object_code


def test_module_id_comment_and_local_names_do_not_matter():
    base = small("dense")
    assert cache_key(base) == cache_key(base.replace('; ModuleID = "dense_model"',
                                                     '; ModuleID = "anything else"'))
    assert cache_key(base) == cache_key(base.replace('%"v"', '%"value.3"'))
    assert cache_key(base) != cache_key(small("dense", factor="3.0"))


# ------------------------------------------------------------------- names that must stay

_LIBM = '''
define internal float @"{name}"(float %x) noinline nounwind {{
  ret float 0.0
}}
define float @"entry"(float %x) nounwind {{
  %r = call float @"{name}"(float 1.0)
  ret float %r
}}
'''


def test_internal_function_named_like_libm_keeps_its_name_in_the_key():
    """LLVM treats an internal definition called ``expf`` as the C function (it folds
    ``expf(1.0)`` to e): its name changes the code, so it must not be erased."""
    libm, own = _LIBM.format(name="expf"), _LIBM.format(name="k1_exp")
    assert cache_key(libm) != cache_key(own)
    results = []
    for text in (libm, own):
        fn = jit.compile_ir(text).ctypes_function("entry", ctypes.c_float, [ctypes.c_float])
        results.append(fn(1.0))
    assert results[1] == 0.0 and results[0] == pytest.approx(np.e, rel=1e-6)
    # The same name outside kiln's namespace stays, even when it means nothing to LLVM.
    assert cache_key(_LIBM.format(name="helper_a")) != cache_key(_LIBM.format(name="helper_b"))


def test_external_and_runtime_symbols_keep_their_names():
    internal = small("dense")
    assert cache_key(internal.replace('define internal', 'define')) != cache_key(internal)
    external = internal.replace('define internal', 'define')  # k1_... now external: exported
    assert cache_key(external) != cache_key(external.replace("k1_dense.", "k1_other."))
    # kiln_team*, kiln_main*, kiln_cycles* never lose their names, even if internal.
    for name in ("kiln_team_size", "kiln_main2", "kiln_cycles"):
        text = f'@"{name}" = internal global i32 2\n' \
               f'define i32 @"kiln_main"() {{\n  %v = load i32, ptr @"{name}"\n  ret i32 %v\n}}\n'
        assert cache_key(text) != cache_key(text.replace(name, "kiln_x")), name
        assert name in canonical_ir(text)


@pytest.mark.parametrize("reference", [
    'module asm ".set kiln_alias, k1_dense.scale"\n',
    '!kiln.note = !{!0}\n!0 = !{!"k1_dense.scale"}\n',
])
def test_internal_name_referred_to_as_text_stays_in_the_key(reference):
    same = reference + small("dense")
    renamed = reference + small("dense").replace("k1_dense.scale", "k1_dense.scale2")
    assert "k1_dense.scale" in canonical_ir(same)
    assert cache_key(same) != cache_key(renamed)
    # without the textual reference, the two are one entry
    assert cache_key(small("dense")) == cache_key(
        small("dense").replace("k1_dense.scale", "k1_dense.scale2"))


def test_text_that_does_not_parse_is_keyed_exactly_and_fails_to_compile(cache):
    bad = "define void @f( {"
    assert canonical_ir(bad) is None
    assert cache_key(bad) != cache_key(bad + " ")
    with pytest.raises(CodegenError, match="does not parse"):
        cache.get_or_compile(bad)


# ---------------------------------------------------------------- aliases: exact text, no parse

def test_repeated_text_is_found_by_its_alias_without_parsing(cache, monkeypatch):
    first, e1 = cache.get_or_compile(small("dense"))
    alias = cache.alias_path(exact_key(small("dense")))
    assert alias.read_text() == f"{exact_key(small('dense'))}\n{e1.key}\n"

    def no_parsing(text):
        raise AssertionError("the canonical form was computed for text seen before")

    monkeypatch.setattr(cache_module, "canonical_ir", no_parsing)
    again, e2 = cache.get_or_compile(small("dense"))
    assert (e2.kind, e2.key, e2.renamed) == ("hit", e1.key, False)
    np.testing.assert_array_equal(run_small(again), np.arange(1, 6) * 2.0)


def test_a_renamed_hit_gets_an_alias_of_its_own(cache, monkeypatch):
    _, e1 = cache.get_or_compile(small("dense"))
    _, e2 = cache.get_or_compile(small("dense_3"))
    assert e2.renamed and cache.alias_path(exact_key(small("dense_3"))).is_file()
    monkeypatch.setattr(cache_module, "canonical_ir", lambda text: pytest.fail("parsed"))
    _, e3 = cache.get_or_compile(small("dense_3"))
    assert (e3.kind, e3.key, e3.renamed) == ("hit", e1.key, True)


@pytest.mark.parametrize("damage", ["swapped", "garbage", "truncated", "empty", "bad key"])
def test_a_damaged_or_swapped_alias_is_never_followed(cache, damage):
    """A swapped alias (another text's, valid) would lead to another program's entry: it must
    be ignored, and the lookup fall back to the canonical key of this text."""
    _, times3 = cache.get_or_compile(small("dense", "3.0"))
    _, times2 = cache.get_or_compile(small("dense", "2.0"))
    mine = cache.alias_path(exact_key(small("dense", "2.0")))
    theirs = cache.alias_path(exact_key(small("dense", "3.0"))).read_bytes()
    mine.write_bytes({"swapped": theirs, "garbage": b"\x00\xff" * 65, "truncated": theirs[:70],
                      "empty": b"", "bad key": theirs[:65] + b"z" * 64 + b"\n"}[damage])
    module, event = cache.get_or_compile(small("dense", "2.0"))
    assert event.kind == "hit" and event.key == times2.key != times3.key
    np.testing.assert_array_equal(run_small(module), np.arange(1, 6) * 2.0)
    # and the alias is repaired
    assert cache.alias_path(exact_key(small("dense", "2.0"))).read_text().split("\n")[1] \
        == times2.key
