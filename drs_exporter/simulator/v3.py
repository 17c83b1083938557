"""The v3 API's answers: a job as ``POST /v3/{project_id}/jobs`` lists it, and a batch-status
result.

Field names follow Huawei's SDK models (``JobInfo``, ``ChildrenJobInfo``,
``QueryJobStatusResp``): among them ``node_newFramework`` (v5 writes
``node_new_framework``) and ``db_use_type`` (v5: ``job_type``); a subtask carries its
failure reason in ``error_msg``. A v3 job is built from the job's v5 object, so a field a
job lacks or sends as null is lacking or null in both shapes alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (v3 key, v5 key), in the order of the SDK's JobInfo
V3_FIELDS = (
    ("id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("create_time", "create_time"),
    ("description", "description"),
    ("engine_type", "engine_type"),
    ("net_type", "net_type"),
    ("billing_tag", "billing_tag"),
    ("job_direction", "job_direction"),
    ("db_use_type", "job_type"),
    ("task_type", "task_type"),
    ("node_newFramework", "node_new_framework"),
    ("job_action", "job_action"),
)


def v3_job(v5: Mapping[str, Any], v3_engine_type: str) -> dict[str, Any]:
    """The v3 object of a generated job (children aside), from its v5 object."""
    out = {v3_key: v5[v5_key] for v3_key, v5_key in V3_FIELDS if v5_key in v5}
    if out.get("engine_type"):
        out["engine_type"] = v3_engine_type
    if "children" in v5:
        out["children"] = v5["children"]
    return out


def v3_child(v5: Mapping[str, Any], v3_engine_type: str, error_msg: str) -> dict[str, Any]:
    """The v3 object of a generated subtask: its parent's shape plus ``error_msg``."""
    out = v3_job(v5, v3_engine_type)
    out.pop("children", None)
    out["error_msg"] = error_msg
    return out


def status_result(job_id: str, status: Any, code: str, message: str) -> dict[str, Any]:
    """One batch-status result; ``status`` None when the job has none."""
    out: dict[str, Any] = {"id": job_id, "status": status}
    out.update(error_code=code, error_message=message)
    return out
