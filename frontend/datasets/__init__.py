"""Datasets shipped with kiln (no downloads): MNIST digits and Rotten Tomatoes review snippets.

``mnist.load_data()`` returns the complete MNIST exactly as Keras does;
``rotten_tomatoes.load_data()`` returns fresh/rotten review snippets for text
classification. Files live in ``frontend/data`` (see its README for sources and licences)
and are checked against their SHA-256 checksums every time they are loaded.
"""
from frontend.datasets import mnist, rotten_tomatoes
from frontend.datasets._files import DatasetError, data_path

__all__ = ["mnist", "rotten_tomatoes", "DatasetError", "data_path"]
