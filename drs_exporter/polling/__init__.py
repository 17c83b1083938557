"""Polling: what to poll (the plan, the shard, the targets discovery makes), each target on its
own schedule, its state across polls, the exporter's own counters, and the immutable snapshot
they make.
"""
