"""The simulator's control hooks under ``/_sim/``, which look at and change a running
simulator from outside.

No auth and no faults; a request that cannot be done answers ``{"error": "..."}``
(HookError). What each hook does, its docstring says; ``server.ROUTES`` gives its route.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from ..errors import ConfigError
from .options import FAULT_FIELDS
from .pipeline import SIMULATOR, json_response


class HookError(Exception):
    """A control-hook request that cannot be done: answered as {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _json_body(request: web.Request, null: bool = False) -> Any:
    """The body as a JSON object (or, with ``null``, JSON null: None)."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise HookError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict) and not (null and body is None):
        raise HookError(400, "the body must be a JSON object" + (" or null" if null else ""))
    return body


async def sim_summary(request: web.Request) -> web.StreamResponse:
    """The truth as of now: ``{"projects": [...], "counts": {project: {job_type: {status:
    n}}}, "subtasks": ...}`` over every job, each once (every project and job type
    present, possibly empty); ``"apis": {"v5": {"counts", "subtasks"}, "v3": {...}}``, the
    same over the jobs each API lists; ``"listed_by": {"v5_only", "v3_only", "both",
    "none"}``, top-level jobs by the APIs listing them. ``?ids=true`` adds ``"ids": {api:
    {project: {job_type: [id, ...]}}}``, the top-level ids each API lists.
    """
    ids = request.query.get("ids", "").lower() in ("1", "true", "yes")
    return json_response(200, request.app[SIMULATOR].world.summary(ids=ids))


async def sim_faults(request: web.Request) -> web.StreamResponse:
    """Change any of the options ``FAULT_FIELDS`` names, given as a JSON object
    (``lying_total`` null: the truth; ``fault_apis`` and ``fault_projects`` as lists of
    names); answers with all of them."""
    sim = request.app[SIMULATOR]
    changes = await _json_body(request)
    unknown = sorted(set(changes) - set(FAULT_FIELDS))
    if unknown:
        raise HookError(400, f"unknown fault option(s): {', '.join(unknown)}")
    for name, value in changes.items():
        changes[name] = _fault_value(name, value)
    try:
        sim.options = dataclasses.replace(sim.options, **changes)
    except ConfigError as e:
        raise HookError(400, str(e)) from None
    return json_response(200, {name: _public(getattr(sim.options, name)) for name in FAULT_FIELDS})


_LISTS = {"fault_apis": "API names", "fault_projects": "project ids"}
_FLAGS = ("endless_pages",)
_WHOLE = ("gzip_bomb_mib", "lying_total", "redirect", "header_padding")
_NULLABLE = ("retry_after", "lying_total")


def _fault_value(name: str, value: Any) -> Any:
    """A fault option's value from JSON, of its type; HookError names the option if not."""
    if name in _LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HookError(400, f"{name} must be a list of {_LISTS[name]}")
        return tuple(value)
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise HookError(400, f"{name} must be true or false")
        return value
    if value is None and name in _NULLABLE:
        return value
    whole = isinstance(value, int) and not isinstance(value, bool)
    if name in _WHOLE and not whole:
        raise HookError(400, f"{name} must be a whole number")
    if not (whole or isinstance(value, float)):
        raise HookError(400, f"{name} must be a number")
    return value


def _public(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


async def sim_set_status(request: web.Request) -> web.StreamResponse:
    """Pin a job's or subtask's status: ``{"status": "..."}``; ``{"status": null}`` unpins."""
    status = (await _json_body(request)).get("status")
    if status is not None and not isinstance(status, str):
        raise HookError(400, "status must be a string or null")
    job_id = request.match_info["job_id"]
    if not request.app[SIMULATOR].world.set_status(job_id, status):
        raise HookError(404, "no such job")
    return json_response(200, {"id": job_id, "status": status})


async def sim_set_health(request: web.Request) -> web.StreamResponse:
    """Pin parts of a job's or subtask's batch answers: ``delay_seconds`` (a number >= 0:
    ``incre_trans_delay`` and ``_millis`` read it, whatever the status), ``frozen`` (true:
    progress, ``remaining_time`` and ``process_time`` stop where they are, the delay grows
    with every second, the rates drop to 0; false: it moves again), ``progress`` (0-100:
    the progress figure, whatever the status), ``error_code`` and ``error_message``
    (strings: batch-status and batch-progress give them, whatever the status). A null
    value unpins that part; a null body unpins all. Answers ``{"id": ..., "health":
    {the pins}}``; 404 for an unknown job.
    """
    changes = await _json_body(request, null=True)
    job_id = request.match_info["job_id"]
    try:
        pins = request.app[SIMULATOR].world.set_health(job_id, changes)
    except ValueError as e:
        raise HookError(400, str(e)) from None
    if pins is None:
        raise HookError(404, "no such job")
    return json_response(200, {"id": job_id, "health": pins})


async def sim_delete_job(request: web.Request) -> web.StreamResponse:
    """Remove a job (with its subtasks) or a subtask: 204, or 404."""
    if not request.app[SIMULATOR].world.delete(request.match_info["job_id"]):
        raise HookError(404, "no such job")
    return web.Response(status=204)


async def sim_add_job(request: web.Request) -> web.StreamResponse:
    """Add a job: ``{"project_id": ..., "job_type": ..., "job": {...}, "apis": ["v5"]}``,
    listed exactly as given by the APIs in ``apis`` (default v5 only; its ``children``
    become subtasks; a missing id is generated): 201 ``{"id": ...}``."""
    body = await _json_body(request)
    project_id, job_type, job = body.get("project_id"), body.get("job_type"), body.get("job")
    if not isinstance(project_id, str) or not project_id or not isinstance(job, dict):
        raise HookError(400, "project_id (a string) and job (an object) are required")
    apis = body.get("apis", ["v5"])
    try:
        job_id = request.app[SIMULATOR].world.add_job(project_id, str(job_type), job, apis)
    except ValueError as e:
        raise HookError(400, str(e)) from None
    return json_response(201, {"id": job_id})


async def sim_advance(request: web.Request) -> web.StreamResponse:
    """Move simulated time forward, ``{"seconds": n}``: job statuses, progress, delays and
    issued tokens' lives run on it; the X-Sdk-Date check stays on the real clock."""
    world = request.app[SIMULATOR].world
    seconds = (await _json_body(request)).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise HookError(400, "seconds must be a number")
    try:
        world.advance(float(seconds))
    except ValueError as e:
        raise HookError(400, str(e)) from None
    return json_response(200, {"now": world.now()})


async def sim_projects(request: web.Request) -> web.StreamResponse:
    """What IAM lists (every project, disabled ones too)."""
    base = f"{request.scheme}://{request.host}"
    return json_response(200, request.app[SIMULATOR].projects.listing(base))


async def sim_add_project(request: web.Request) -> web.StreamResponse:
    """Add a project, ``{"name": ...}`` and optionally ``"id"`` and ``"enabled"``: IAM lists
    it from now on (add its jobs with ``/_sim/jobs``)."""
    body = await _json_body(request)
    name, project_id, enabled = body.get("name"), body.get("id"), body.get("enabled", True)
    if not isinstance(name, str) or not name:
        raise HookError(400, "name (a string) is required")
    if project_id is not None and (not isinstance(project_id, str) or not project_id):
        raise HookError(400, "id must be a non-empty string")
    if not isinstance(enabled, bool):
        raise HookError(400, "enabled must be true or false")
    project = request.app[SIMULATOR].projects.add(name, project_id, enabled)
    return json_response(201, {"id": project.id, "name": project.name, "enabled": enabled})


async def sim_delete_project(request: web.Request) -> web.StreamResponse:
    """Remove a project from IAM's list (its jobs stay)."""
    if not request.app[SIMULATOR].projects.remove(request.match_info["project_id"]):
        raise HookError(404, "no such project")
    return web.Response(status=204)


async def sim_iam(request: web.Request) -> web.StreamResponse:
    """Make IAM's project list answer with a status, ``{"fail_status": 503}``, until
    ``{"fail_status": null}``."""
    status = (await _json_body(request)).get("fail_status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise HookError(400, "fail_status must be an HTTP error status (400-599) or null")
    request.app[SIMULATOR].projects.fail_status = status
    return json_response(200, {"fail_status": status})


async def sim_set_published(request: web.Request) -> web.StreamResponse:
    """Make the region publish only these list APIs from now on, ``{"apis": ["v3"]}`` (the
    other's calls answer 404 ``APIGW.0101``); the jobs stay, listed by what is published."""
    apis = (await _json_body(request)).get("apis")
    try:
        request.app[SIMULATOR].world.set_published(apis)
    except ValueError as e:
        raise HookError(400, str(e)) from None
    return json_response(200, {"apis": apis})
