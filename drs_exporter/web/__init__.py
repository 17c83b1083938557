"""The HTTP server: its endpoints, what the web-config file asks for (TLS, basic auth), which
body a scrape asks for, and the limits that keep a flood of clients from costing without bound.
"""
