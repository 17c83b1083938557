"""The command line as an operator uses it: real processes, real sockets."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from drs_exporter.cli import COMMANDS

from .conftest import (
    EXE,
    StartSim,
    free_port,
    ipv6_loopback,
    samples,
    select,
    sim_call,
    start_serving,
    stop,
    wait_ready,
)


async def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        EXE,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(
    tmp_path: Path, sim_url: str, projects: list[str], token: str = "cli-token", extra: str = ""
) -> Path:
    targets = "\n".join(
        f"  - project_id: {p}\n    region: ap-southeast-1\n    endpoint: {sim_url}"
        for p in projects
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        f"credentials:\n  token: {token}\ntargets:\n{targets}\n"
        "poll:\n  interval: 2s\n  timeout: 5s\n  retries: 0\n" + extra
    )
    return path


BAD_CONFIGS = [
    (
        "targets:\n  - project_id: p1\n    region: xx-nowhere-1\ncredentials: {token: t}\n",
        "targets[0].region: unknown region 'xx-nowhere-1'",
    ),
    (
        "targets:\n  - project_id: p1\n    region: cn-north-4\ncredentials: {token: t}\npoll: {intervall: 5s}\n",
        "poll.intervall",
    ),
    (
        "targets:\n  - project_id: p1\n    region: cn-north-4\ncredentials: {token: t}\npoll: {interval: soon}\n",
        "poll.interval",
    ),
    (
        "targets:\n  - project_id: p1\n    region: cn-north-4\n    job_types: [migrate]\ncredentials: {token: t}\n",
        "targets[0].job_types",
    ),
    ("targets:\n  - region: cn-north-4\ncredentials: {token: t}\n", "targets[0].project_id"),
    ("targets: [\n", "config.yaml"),
    ("", "targets"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
async def test_a_bad_config_exits_2_with_one_line_naming_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    for args in (
        ["--config.file", str(path)],
        ["check", "--config.file", str(path)],
        ["once", "--config.file", str(path)],
    ):
        code, _, err = await run(*args)
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert expected in err and "Traceback" not in err


async def test_a_missing_config_file_and_bad_flags_exit_2_in_one_line(tmp_path: Path) -> None:
    for args in (
        ["--config.file", str(tmp_path / "nope.yaml")],
        ["--no-such-flag"],
        [],
        ["--log.level", "loud", "--config.file", "x"],
        ["simulate", "--jobs", "many"],
    ):
        code, _, err = await run(*args)
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (args, err)


async def test_help_names_every_command_and_flag_and_no_secret() -> None:
    code, out, _ = await run("--help", env={"HUAWEICLOUD_SDK_SK": "sk-from-env-123456"})
    assert code == 0
    for word in (
        "--config.file",
        "--web.listen-address",
        "--log.level",
        "--log.format",
        "--web.enable-lifecycle",
        "check",
        "once",
        "simulate",
        "demo",
    ):
        assert word in out
    assert "sk-from-env-123456" not in out


def readme_commands() -> dict[str, list[str]]:
    """The README's table of commands: each command's rows, as written in their first cell."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for cell in re.findall(r"^\| `(drs-exporter\b[^`]*)` \|", section, re.M):
        cell = cell.replace("\\|", "|")  # a | escaped in a Markdown table
        words = cell.split()
        command = words[1] if len(words) > 1 and words[1] in COMMANDS else "serve"
        rows.setdefault(command, []).append(cell)
    return rows


def readme_flags(cell: str) -> dict[str, str | None]:
    """A row's flags with the value each is shown with (None: a switch)."""
    words = cell.replace("[", " ").replace("]", " ").split()
    return {
        word: following if not following.startswith("-") and following != "..." else None
        for word, following in zip(words, [*words[1:], "-"], strict=True)
        if word.startswith("--")
    }


async def help_flags(command: str) -> dict[str, str | None]:
    """The flags ``--help`` lists for a command, with the value each is shown with; a choice
    of values as the README writes it (``a|b``)."""
    code, out, _ = await run(*([] if command == "serve" else [command]), "--help")
    assert code == 0
    flags: dict[str, str | None] = {}
    for line in out.splitlines():
        option = re.match(r"  (-\S.*?)(?:  |$)", line)  # "  --flag VALUE   help"
        for spelled in option[1].split(", ") if option else ():
            name, _, value = spelled.partition(" ")
            if value.startswith("{"):
                value = value.strip("{}").replace(",", "|")
            if name.startswith("--") and name != "--help":
                flags[name] = value or None
    return flags


async def test_the_readme_shows_every_flag_of_every_command_as_help_does() -> None:
    rows = readme_commands()
    assert set(rows) == set(COMMANDS)
    for command, cells in rows.items():
        shown = await help_flags(command)
        documented: dict[str, str | None] = {}
        for cell in cells:
            documented.update(readme_flags(cell))
        # Each flag the README names exists, with the value --help shows for it.
        assert {flag: shown.get(flag, "(not in --help)") for flag in documented} == documented
        # A row that ends in "..." leaves the rest to --help; the others name every flag.
        if not any(cell.endswith("...") for cell in cells):
            assert sorted(shown) == sorted(documented), command


async def test_once_prints_an_exposition_matching_the_simulator(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(
        seed=9, projects=2, jobs=45, page_cap=10, token="cli-token", status_period=0
    )
    config = write_config(tmp_path, sim.url, sim.project_ids)
    code, out, err = await run("once", "--config.file", str(config))
    assert code == 0, err
    found = samples(out)
    summary = await sim_call(sim, "GET", "/_sim/summary")
    for project, by_type in summary["counts"].items():
        for job_type, by_status in by_type.items():
            for status, n in by_status.items():
                got = select(
                    found, "drs_jobs", project_id=project, job_type=job_type, status=status
                )
                assert sum(v for _, _, v in got) == n
    assert sum(v for _, _, v in select(found, "drs_jobs")) == 45


async def test_check_prints_a_table_and_fails_on_a_refused_target(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=9, token="cli-token")
    good = write_config(tmp_path, sim.url, sim.project_ids)
    code, out, _ = await run("check", "--config.file", str(good))
    assert code == 0
    assert out.count("answered") == 6 and sim.project_ids[0] in out  # 3 job types x 2 APIs
    bad = write_config(tmp_path, sim.url, sim.project_ids, token="not-the-token")
    code, out, _ = await run("check", "--config.file", str(bad))
    assert code == 1
    assert "auth" in out and "HTTP 401" in out and "not-the-token" not in out


async def test_serve_answers_probes_scrapes_and_stops_cleanly_on_sigterm(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=9, token="cli-token")
    config = write_config(tmp_path, sim.url, sim.project_ids)
    spawned = time.time()
    proc, base = await start_serving(config, "--log.format", "json")
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)
            async with session.get(base + "/-/healthy") as resp:
                assert resp.status == 200
            async with session.get(base + "/metrics") as resp:
                found = samples(await resp.text())
            assert sum(v for _, _, v in select(found, "drs_jobs")) == 9
            # The process families are the exporter's own: started when we spawned it.
            (started,) = select(found, "process_start_time_seconds")
            assert spawned - 1.5 <= started[2] <= time.time()
            (memory,) = select(found, "process_resident_memory_bytes")
            assert memory[2] > 10 * 2**20
    finally:
        err = await stop(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


async def test_demo_shows_jobs_in_several_statuses_including_a_failed_one() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "demo",
        "--web.listen-address",
        f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"http://127.0.0.1:{port}")
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                found = samples(await resp.text())
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                landing = await resp.text()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    statuses = {labels["status"] for _, labels, v in select(found, "drs_jobs") if v > 0}
    assert len(statuses) >= 3, statuses
    assert any(s.endswith("_FAILED") for s in statuses), statuses
    assert f"http://127.0.0.1:{port}/metrics" in out.decode()
    assert proc.returncode == 0 and b"Traceback" not in err
    # A first-time user sees no warning, and no promise of a reload the demo cannot do.
    assert b"level=warn" not in err and b"level=error" not in err, err.decode()
    assert "nothing to reload" in landing and "SIGHUP" not in landing


async def line_starting(stream: asyncio.StreamReader | None, prefix: str) -> str:
    """The first line of a process's output that starts with ``prefix`` (bounded)."""
    assert stream is not None

    async def find() -> str:
        while line := await stream.readline():
            if line.decode().startswith(prefix):
                return line.decode()
        pytest.fail(f"the output ended without a line starting with {prefix!r}")

    return await asyncio.wait_for(find(), 60)


def every_interface() -> str:
    """The host of the URL printed for a listen address of every interface: localhost where
    IPv4 and IPv6 both listen, the IPv4 loopback on a host without IPv6."""
    return "localhost" if ipv6_loopback() else "127.0.0.1"


@pytest.mark.parametrize(
    ("address", "host"),
    [
        (":{port}", "{localhost}"),  # every interface: the name that reaches either family
        ("127.0.0.1:0", "127.0.0.1"),  # the port the system chose is printed, not 0
    ],
)
async def test_demo_prints_links_that_answer_once_it_listens(address: str, host: str) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "demo",
        "--web.listen-address",
        address.format(port=port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        landing = (await line_starting(proc.stdout, "exporter:")).split()[1]
        metrics = (await line_starting(proc.stdout, "metrics:")).split()[1]
        host = host.format(localhost=every_interface())
        printed = re.fullmatch(rf"http://{re.escape(host)}:(\d+)/", landing)
        assert printed is not None, landing
        assert int(printed[1]) == port if "{port}" in address else int(printed[1]) > 0
        assert metrics == landing + "metrics"
        # Asked once, at once: the links are printed only when the port is bound.
        async with aiohttp.ClientSession() as session:
            for url in (landing, metrics):
                async with session.get(url) as resp:
                    assert resp.status == 200, url
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 20)


@pytest.mark.parametrize(
    ("address", "host"),
    [("127.0.0.1:0", "127.0.0.1"), (":{port}", "{localhost}"), ("[::1]:0", "[::1]")],
)
async def test_simulate_prints_the_address_it_listens_on(address: str, host: str) -> None:
    if address.startswith("[") and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "simulate",
        "--web.listen-address",
        address.format(port=free_port()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        url = (await line_starting(proc.stdout, "DRS simulator listening on ")).split()[-1]
        host = host.format(localhost=every_interface())
        printed = re.fullmatch(rf"http://{re.escape(host)}:(\d+)", url)
        assert printed is not None and int(printed[1]) > 0, url
        async with aiohttp.ClientSession() as session, session.get(url + "/_sim/summary") as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 20)


async def test_a_taken_port_exits_2_naming_the_flag_or_the_config_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        config = write_config(
            tmp_path, "http://127.0.0.1:9", ["p1"], extra=f"web:\n  listen_address: {address}\n"
        )
        flag = ["--web.listen-address", address]
        for args, named in (
            (["simulate", *flag], "--web.listen-address"),
            (["demo", *flag], "--web.listen-address"),
            (["--config.file", str(config)], "web.listen_address"),
            (["--config.file", str(config), *flag], "--web.listen-address"),
        ):
            code, _, err = await run(*args)
            assert code == 2, (args, err)
            (line,) = err.strip().splitlines()
            assert line.startswith(f"drs-exporter: {named}: cannot listen on {address}: "), args


@pytest.mark.parametrize(
    ("job_types", "said"),
    [("", "with 3 targets, shard 0 of 1"), ("[sync]", "with 1 target, shard 0 of 1")],
)
async def test_the_start_line_counts_the_targets_drs_up_has(
    start_sim: StartSim, tmp_path: Path, job_types: str, said: str
) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=9, token="cli-token")
    config = write_config(tmp_path, sim.url, sim.project_ids)
    if job_types:
        text = config.read_text().replace(
            "    endpoint:", f"    job_types: {job_types}\n    endpoint:"
        )
        config.write_text(text)
    proc, base = await start_serving(config)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)
            async with session.get(base + "/metrics") as resp:
                up = select(samples(await resp.text()), "drs_up")
    finally:
        err = await stop(proc)
    (start_line,) = [line for line in err.splitlines() if "listening on" in line]
    assert f"listening on {base}/ " in start_line
    assert said in start_line
    assert f"with {len(up)} target" in start_line


def check_rows(out: str) -> dict[tuple[str, str], str]:
    """check's table as (job type, API) -> RESULT column (one project)."""
    rows = [line.split(maxsplit=4) for line in out.splitlines()[1:]]
    return {(row[2], row[3]): row[4] for row in rows}


@pytest.mark.parametrize(("published", "missing"), [(("v3",), "v5"), (("v5",), "v3")])
async def test_check_names_the_api_a_region_does_not_publish_and_passes_with_auto(
    start_sim: StartSim, tmp_path: Path, published: tuple[str, ...], missing: str
) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=9, token="cli-token", apis=published)
    config = write_config(tmp_path, sim.url, sim.project_ids)  # no apis key: auto
    code, out, err = await run("check", "--config.file", str(config))
    assert code == 0, out + err
    rows = check_rows(out)
    assert len(rows) == 6  # 3 job types x both list APIs asked
    for (_, api), result in rows.items():
        if api == missing:
            assert result.startswith("not published in this region"), result
            assert "Huawei documents v3 in ap-southeast-1" in result
        else:
            assert result.startswith("answered"), result

    # once: every target up, every job exported (the region lists them all through one API).
    code, out, err = await run("once", "--config.file", str(config))
    assert code == 0, err
    found = samples(out)
    assert all(v == 1 for _, _, v in select(found, "drs_up"))
    truth = sim.world.summary()
    assert sum(v for _, _, v in select(found, "drs_jobs")) == sum(
        n for p in truth["counts"].values() for t in p.values() for n in t.values()
    )
    published_series = {labels["api"]: v for _, labels, v in select(found, "drs_api_published")}
    assert published_series == {f"{missing}_jobs": 0, f"{published[0]}_jobs": 1}
    assert f"does not publish the {missing} list API" in err


async def test_an_explicit_api_list_the_region_does_not_publish_fails_with_a_clear_reason(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=9, token="cli-token", apis=("v3",))
    config = write_config(tmp_path, sim.url, sim.project_ids)
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        config.read_text().replace("    endpoint:", "    apis: [v5, v3]\n    endpoint:")
    )
    code, out, _ = await run("check", "--config.file", str(strict))
    assert code == 1
    rows = check_rows(out)
    assert all("targets[].apis requires it" in r for (_, api), r in rows.items() if api == "v5")
    assert all(r.startswith("answered") for (_, api), r in rows.items() if api == "v3")

    # once: every target down, with the reason and what to do in the log.
    code, out, err = await run("once", "--config.file", str(strict))
    assert code == 1
    found = samples(out)
    assert all(v == 0 for _, _, v in select(found, "drs_up"))
    reasons = {labels["reason"] for _, labels, _ in select(found, "drs_poll_errors_total")}
    assert reasons == {"unsupported"}
    assert "does not publish the v5 list API that targets[].apis names" in err
    assert "Leave targets[].apis out" in err

    # Listing with v3 only, as the hint allows, the same targets are up.
    narrowed = tmp_path / "narrowed.yaml"
    narrowed.write_text(strict.read_text().replace("apis: [v5, v3]", "apis: [v3]"))
    code, out, err = await run("once", "--config.file", str(narrowed))
    assert code == 0, err
    assert all(v == 1 for _, _, v in select(samples(out), "drs_up"))
