"""The DRS API: its answers read, a target's jobs listed page by page through the list APIs its
region publishes, the v3 batch calls asked about them, and the project's quota.
"""
