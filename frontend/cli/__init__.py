"""The ``kiln`` command line: train, predict, compile, ir and bench on a model file.

``kiln MODEL`` commands take a *model file*: a declared model (``.toml``/``.json``, read by
:mod:`frontend.model_file`, never executed) or a Python file that defines ``model`` (run
like ``python file.py``; see :mod:`frontend.cli.loading` for the convention). Entry point:
:func:`frontend.cli.main.main` (``kiln`` console script, or ``python -m frontend.cli``).
One module per subcommand; errors are reported as one line (see :mod:`frontend.cli.errors`).
"""
