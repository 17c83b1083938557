"""The metrics: which families there are and how each is written, a snapshot rendered once
into the bodies /metrics serves, and the process's own metrics rendered per scrape.
"""
