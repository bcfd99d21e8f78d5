"""Setuptools shim for tools that still call setup.py; metadata lives in pyproject.toml.

Needs setuptools >= 77 (the build-system requirement in pyproject.toml); `pip install` brings it in
its isolated build environment by itself.
"""

from setuptools import setup

setup()
