"""Prometheus exporter for Huawei Cloud Data Replication Service (DRS) job state."""

# The one place the version is written: the package's metadata takes it from here.
__version__ = "0.1.0"
# What the command is called, and what the HTTP server says it is (without a version, which
# would tell anyone who can reach the port which flaws to try).
NAME = "drs-exporter"
