"""Kernel IR: loop nests with expression bodies and contraction templates, lowered from the
graph IR and compiled to LLVM by compiler/llvm/codegen.py."""
