"""Why a simulated job failed: DRS error codes and messages, chosen once per job.

The messages are of the kinds DRS gives: short, multi-line (a stack of causes), longer than
any one-line label should be, and in Chinese (the console's language, whatever
``X-Language`` says). A job's reason depends on its failed status and a hash of the job,
so it is the same in every answer and every run of a seed.
"""

# The Chinese messages use Chinese punctuation, as DRS's own do.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Mapping

from .lifecycle import hash64

Reason = tuple[str, str]  # (error_code, error_message)

_CONNECT: tuple[Reason, ...] = (
    (
        "DRS.M05004",
        "Failed to connect to the source database. Check that the database is running, "
        "that the network is reachable and that the account and password are correct.",
    ),
    ("DRS.M05005", "Failed to connect to the destination database."),
    (
        "DRS.M05010",
        "源数据库连接失败，请检查源库网络、账号和密码是否正确。",
    ),
)
_FULL: tuple[Reason, ...] = (
    (
        "DRS.M03012",
        "Full migration failed on table `orders`.`order_items`:\n"
        "Duplicate entry '1024' for key 'PRIMARY'\n"
        "Caused by: java.sql.SQLIntegrityConstraintViolationException",
    ),
    (
        "DRS.M03015",
        "The destination database has insufficient storage space. Full data migration "
        "stopped while writing table `sales`.`history_2023` after 81,264,000 rows. Expand "
        "the storage of the destination instance (at least 120 GB more is estimated to be "
        "needed for the remaining objects), then retry the task from the DRS console.",
    ),
    (
        "DRS.M03020",
        "全量迁移失败：目标库表结构与源库不一致，表 `user_profile` 缺少列 `nick_name`。",
    ),
)
_INCRE: tuple[Reason, ...] = (
    (
        "DRS.M04001",
        "The binlog of the source database has been cleared: the position "
        "mysql-bin.004531:120 needed by incremental migration no longer exists. Increase "
        "the binlog retention period of the source database (at least 3 days is "
        "recommended), then reset the task; incremental data written since the binlog was "
        "purged cannot be recovered by this task.",
    ),
    (
        "DRS.M04007",
        "Incremental replay failed.\n"
        "Table: inventory.stock\n"
        "Error: Lock wait timeout exceeded; try restarting transaction",
    ),
    ("DRS.M04010", "增量同步异常：源库 binlog 格式不是 ROW，请修改 binlog_format 后重试。"),
)
_CHANGE: tuple[Reason, ...] = (
    ("DRS.M06002", "Failed to modify the task: the new synchronization objects overlap."),
    ("DRS.M06005", "任务变更失败：所选对象在目标库中已存在。"),
)
_RELEASE: tuple[Reason, ...] = (
    ("DRS.M07001", "Failed to release the replication instance. Try again later."),
)
_CREATE: tuple[Reason, ...] = (
    (
        "DRS.M01003",
        "Insufficient quota: the number of replication instances in the region has "
        "reached its limit.",
    ),
    ("DRS.M01007", "创建任务失败：所选子网中的 IP 地址不足。"),
)
_REBUILD: tuple[Reason, ...] = (
    (
        "DRS.M08001",
        "Fault recovery failed: the replication node could not be rebuilt.\n"
        "The standby node is unavailable.",
    ),
)

REASONS: Mapping[str, tuple[Reason, ...]] = {
    "CREATE_FAILED": _CREATE,
    "START_JOB_FAILED": _CONNECT,
    "FULL_TRANSFER_FAILED": _FULL + _CONNECT,
    "INCRE_TRANSFER_FAILED": _INCRE + _CONNECT,
    "CHANGE_JOB_FAILED": _CHANGE,
    "RELEASE_RESOURCE_FAILED": _RELEASE,
    "REBUILD_NODE_FAILED": _REBUILD,
    "CHILD_TRANSFER_FAILED": _FULL + _INCRE,
}
GENERIC: tuple[Reason, ...] = (("DRS.M00001", "The task failed. Contact technical support."),)


def reason(seed: int, key: int, status: str) -> Reason:
    """The error code and message of a job in the failed ``status`` (any ``*_FAILED``)."""
    choices = REASONS.get(status, GENERIC)
    return choices[(hash64(seed ^ 0x5EA50, key) >> 7) % len(choices)]
