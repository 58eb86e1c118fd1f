"""Canonical record contracts: column lists and Arrow types (canonical.py) and pandera models."""
