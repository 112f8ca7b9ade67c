"""The benchmark library's parts (the public API is :mod:`frontend.benchmark`):

* :mod:`~frontend.bench.record`: :class:`BenchRecord` and :func:`format_table`;
* :mod:`~frontend.bench.runner`: :func:`bench_model` (agreement check, then timing);
* :mod:`~frontend.bench.torch_mirror`: the PyTorch twin of a kiln model;
* :mod:`~frontend.bench.suite`: the built-in suite of the seed programs' models;
* :mod:`~frontend.bench.timing`: medians after warm-up, cold compile cache.
"""
