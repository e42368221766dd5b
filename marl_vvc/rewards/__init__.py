"""Rewards: pure functions of a step's states and snapshot, and the per-agent splitters."""
