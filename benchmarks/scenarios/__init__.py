"""Scenario scripts: each runs as a fresh process and prints one JSON line (see run.py)."""
