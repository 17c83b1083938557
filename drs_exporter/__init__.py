"""Prometheus exporter for Huawei Cloud Data Replication Service (DRS) job state."""

from importlib import metadata

try:
    __version__ = metadata.version("drs-exporter")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
