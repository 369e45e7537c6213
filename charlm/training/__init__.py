"""Training: the run folder's rules (runs.py), the schedule, the compiled train step and the loop
that writes checkpoints. Importing the package loads nothing heavy; loop.py and step.py load Keras."""
