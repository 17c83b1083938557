"""Merging the v5 and v3 listings, and the v3 body built from a project's filters."""

from __future__ import annotations

import msgspec

from drs_exporter.config import Credentials, Project
from drs_exporter.drs.listing import merge_listings
from drs_exporter.list_apis import v3_body

from .test_batch_figures import job


def test_a_job_both_apis_list_is_one_job_with_v5s_record() -> None:
    v5 = [
        msgspec.structs.replace(
            job("INCRE_TRANSFER_STARTED", job_id="both"), engine_type="mysql-to-mysql"
        )
    ]
    v3 = [
        job("INCRE_TRANSFER_STARTED", job_id="both"),  # engine_type "mysql" in v3's words
        job("FULL_TRANSFER_STARTED", job_id="v3-only"),
    ]
    merged = merge_listings([v5, v3])
    assert [(j.id, j.engine_type) for j in merged] == [
        ("both", "mysql-to-mysql"),
        ("v3-only", "mysql"),
    ]


def test_a_v3_subtasks_error_msg_survives_the_merge() -> None:
    parent = job("CHILD_TRANSFER_STARTED", job_id="p")
    child_v5 = msgspec.structs.replace(job("CHILD_TRANSFER_FAILED", job_id="c"), parent_id="p")
    child_v3 = msgspec.structs.replace(child_v5, error_message="Lost connection to the target")
    merged = merge_listings([[parent, child_v5], [parent, child_v3]])
    assert [(j.id, j.error_message) for j in merged] == [
        ("p", ""),
        ("c", "Lost connection to the target"),
    ]


def test_the_v3_body_carries_the_filters_and_instance_ids_as_a_list() -> None:
    project = Project(
        project_id="p1",
        region="ap-southeast-1",
        endpoint="http://127.0.0.1:1",
        credentials=Credentials(token="t"),
        filters=(
            ("net_type", "vpc"),
            ("instance_ids", "a"),
            ("instance_ids", "b"),
            ("enterprise_project_id", ""),
            ("status", "INCRE_TRANSFER_FAILED,FULL_TRANSFER_FAILED"),
        ),
    )
    assert v3_body("sync", project.filters, 3, 50) == {
        "db_use_type": "sync",
        "cur_page": 3,
        "per_page": 50,
        "net_type": "vpc",
        "instance_ids": ["a", "b"],
        "enterprise_project_id": "",
        "status": "INCRE_TRANSFER_FAILED,FULL_TRANSFER_FAILED",
    }
