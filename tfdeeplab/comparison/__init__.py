"""Comparing recipes: their schedules at real length, and trained side by side.

`python -m tfdeeplab.compare` (see `tfdeeplab/compare.py`) uses `schedule_table`
for the learning-rate tables, `plots` for the figures and `runs` to train and read
back each recipe's run.
"""
