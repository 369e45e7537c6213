"""Minimal-pair agreement probes: pair files, scoring, the n-gram floor, statistics, reports and
the cells experiment."""
