"""Prometheus exporter for Huawei Cloud Data Replication Service (DRS) job state."""

# The one place the version is written: the package's metadata takes it from here.
__version__ = "0.1.0"
