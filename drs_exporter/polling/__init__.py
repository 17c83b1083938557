"""Polling: what to poll (the plan, the shard, the projects discovery finds), each target on
its own schedule, its state across polls, the exporter's own counters, and the snapshot.
"""
