"""The simplify passes of kiln's optimization pipeline.

Each pass is a function ``pass(graph) -> graph`` that rewrites the graph in place and
returns it, with one job:

* :func:`fold_constants` (``fold.py``): nodes of constant operands become constants,
  evaluated by the op's numpy reference, within a size rule;
* :func:`simplify_algebra` (``algebra.py``): identities, one small named rule each in
  :data:`RULES`; :data:`NOT_APPLIED` lists those left out on purpose, with the reason;
* :func:`cse` (``cse.py``): nodes with the same op, attributes and operands are merged;
* :func:`dce` (``dce.py``): nodes no graph output depends on are removed;
* :func:`simplify` / :func:`simplify_with_stats` (``driver.py``): the four above to a
  fixed point, with node counts and per-rule rewrite counts;
* :func:`strip_stop_gradient` (``strip.py``): not part of :func:`simplify`, valid only
  after autodiff.

Every pass keeps value types (a rewrite that would change a declared type is not made),
keeps graph outputs pointing at their (possibly replaced) values, gives new nodes the
``loc`` of the node they replace, and leaves a graph that verifies. Each also takes an
optional ``stats`` Counter that it adds its rewrite counts to. Scan bodies are
simplified too.
"""
from compiler.passes.simplify.algebra import NOT_APPLIED, RULES, Rule, simplify_algebra
from compiler.passes.simplify.cse import cse
from compiler.passes.simplify.dce import dce
from compiler.passes.simplify.driver import SimplifyStats, simplify, simplify_with_stats
from compiler.passes.simplify.fold import MAX_FOLD_ELEMENTS, fold_constants
from compiler.passes.simplify.strip import strip_stop_gradient

__all__ = ["fold_constants", "simplify_algebra", "cse", "dce", "simplify",
           "simplify_with_stats", "SimplifyStats", "strip_stop_gradient", "RULES", "Rule",
           "NOT_APPLIED", "MAX_FOLD_ELEMENTS"]
