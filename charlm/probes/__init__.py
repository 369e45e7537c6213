"""Minimal-pair agreement probes: pair files, scoring, the n-gram floor, statistics and
reports."""
