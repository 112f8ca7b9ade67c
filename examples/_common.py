"""Helpers shared by the Keras examples: the command line every example takes."""
from __future__ import annotations

import argparse
import os
import sys

# examples run as scripts from a checkout: make the repository importable
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parser(doc: str, epochs: int) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny, fast configuration (used by the tests)")
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--backend", default=None,
                    help="runtime backend for the programs (default: kiln's default)")
    ap.add_argument("--verbose", type=int, default=None, help="fit's verbose (0, 1 or 2)")
    return ap
