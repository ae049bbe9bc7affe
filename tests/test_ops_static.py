"""The operator stack, checked without Docker: compose file, image, Prometheus rules and
their unit tests, Grafana provisioning and the generated dashboards.

Tools: ``docker-compose`` (Debian's, validates the file against the compose-spec schema and
interpolates variables without an engine) and ``promtool`` (Debian's ``prometheus``).
``scripts/test`` installs both; a missing tool FAILS these tests, it never skips them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import generate
from services import figures, metric_names
from services.kafka.broker import DEFAULT_CONFIG
from services.kafka.settings import DEFAULT_TOPIC, DLQ_SUFFIX

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
PROM_DIR = REPO / "prometheus"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
PROM_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))
GRAFANA_DIR = REPO / "grafana"
PASSWORD = "test-only-password"
#: Series that are not ours but may appear in queries: Prometheus' own scrape health.
BUILTIN_SERIES = {"up"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/test installs it)", pytrace=False)
    return path


def compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWIN_", "GF_", "COMPOSE_"))}
    env.update(extra)
    return env


def run(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``argv`` run in the repository, its output captured as text."""
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    return run(tool("docker-compose"), "-f", str(COMPOSE), "config", env=compose_env(**env))


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (schema-checked, interpolated)."""
    done = compose_config(GF_ADMIN_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def rules() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def recording_rules() -> dict[str, str]:
    return {r["record"]: r["expr"] for r in rules() if "record" in r}


def alert_rules() -> dict[str, str]:
    return {r["alert"]: r["expr"] for r in rules() if "alert" in r}


# --------------------------------------------------------------------------- compose


def test_compose_file_is_valid_and_has_the_stack(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == {
        "kafka",
        "kafka-setup",
        "twin",
        "twin-shard",
        "projector-1",
        "projector-2",
        "prometheus",
        "grafana",
    }


def test_grafana_admin_password_has_no_default(raw: dict[str, Any]) -> None:
    """No default password: Grafana's entrypoint refuses to start without one, while
    `docker compose down -v` (as the docs write it) works without the variable."""
    env = raw["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GF_ADMIN_PASSWORD:-}"
    done = compose_config()  # GF_ADMIN_PASSWORD unset: config (and so down, ps) still work
    assert done.returncode == 0, done.stderr
    # the config output keeps compose's "$$" escape for a literal "$"
    script = yaml.safe_load(done.stdout)["services"]["grafana"]["entrypoint"][-1]
    script = script.replace("$$", "$")
    check = subprocess.run(
        ["sh", "-c", script.replace("exec /run.sh", "exit 0")],
        env={"PATH": os.environ["PATH"], "GF_SECURITY_ADMIN_PASSWORD": ""},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 78 and "set GF_ADMIN_PASSWORD" in check.stderr
    check = subprocess.run(
        ["sh", "-c", script.replace("exec /run.sh", "exit 0")],
        env={"PATH": os.environ["PATH"], "GF_SECURITY_ADMIN_PASSWORD": "x"},
    )
    assert check.returncode == 0


def test_published_ports_bind_to_localhost_by_default(resolved: dict[str, Any]) -> None:
    published = {
        name: service["ports"]
        for name, service in resolved["services"].items()
        if "ports" in service
    }
    assert set(published) == {"kafka", "prometheus", "grafana"}
    for name, ports in published.items():
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port['published']}"
            assert text.startswith("127.0.0.1:"), (name, port)
    done = compose_config(GF_ADMIN_PASSWORD=PASSWORD, TWIN_PUBLISH_HOST="0.0.0.0")
    assert done.returncode == 0 and "0.0.0.0:9092:9092" in done.stdout


def test_prometheus_has_no_lifecycle_api_and_does_not_wait_for_healthy_projectors(
    resolved: dict[str, Any],
) -> None:
    prometheus = resolved["services"]["prometheus"]
    assert not any("lifecycle" in arg for arg in prometheus["command"])
    for name in ("projector-1", "projector-2"):
        assert prometheus["depends_on"][name]["condition"] == "service_started"


def test_versions_are_named_once_and_match_what_the_tests_run(resolved: dict[str, Any]) -> None:
    from services.kafka.broker import kafka_version, stack_versions

    versions = stack_versions()
    images = {name: s.get("image", "") for name, s in resolved["services"].items()}
    assert images["kafka"] == f"apache/kafka:{versions['KAFKA_VERSION']}" == images["kafka-setup"]
    assert kafka_version() == versions["KAFKA_VERSION"]
    assert images["prometheus"] == f"prom/prometheus:v{versions['PROMETHEUS_VERSION']}"
    assert images["grafana"] == f"grafana/grafana-oss:{versions['GRAFANA_VERSION']}"
    promtool = run(tool("promtool"), "--version")
    installed = re.search(r"version (\d+\.\d+\.\d+)", promtool.stdout + promtool.stderr)
    assert installed and installed.group(1) == versions["PROMETHEUS_VERSION"]


def test_base_image_and_python_packages_are_pinned() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", dockerfile)
    assert base and re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base.group(1))
    assert "pip install -c constraints.txt ." in dockerfile
    pins = dict(
        line.split("==")
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is not pinned in constraints.txt"


def test_grafana_needs_sign_in_unless_asked_with_boards_provisioned(
    resolved: dict[str, Any],
) -> None:
    grafana = resolved["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == PASSWORD
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    done = compose_config(GF_ADMIN_PASSWORD=PASSWORD, GF_ANONYMOUS="true")
    env = yaml.safe_load(done.stdout)["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    mounts = {Path(v["source"]): v["target"] for v in _volumes(grafana) if v["type"] == "bind"}
    assert mounts[GRAFANA_DIR / "provisioning"] == "/etc/grafana/provisioning"
    board_dir = mounts[GRAFANA_DIR / "dashboards"]
    provider = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "orbital-twin.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == board_dir
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(board_dir + "/")
    assert (GRAFANA_DIR / "dashboards" / Path(home).name).exists()


def _volumes(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in long form (docker-compose 1.x prints the short form 'src:dst:mode')."""
    out = []
    for item in service.get("volumes", []):
        if isinstance(item, dict):
            out.append(item)
            continue
        parts = item.split(":")
        kind = "bind" if parts[0].startswith(("/", ".")) else "volume"
        out.append({"type": kind, "source": parts[0], "target": parts[1]})
    return out


def test_images_are_pinned(resolved: dict[str, Any]) -> None:
    images = {name: s.get("image", "") for name, s in resolved["services"].items()}
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", images["kafka"])
    assert images["kafka-setup"] == images["kafka"]
    assert re.fullmatch(r"grafana/grafana-oss:\d+\.\d+\.\d+", images["grafana"])
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", images["prometheus"])
    for name in ("twin", "projector-1", "projector-2"):
        assert resolved["services"][name]["build"]["dockerfile"] == "Dockerfile"


def test_every_long_running_service_has_a_healthcheck_and_waits_on_conditions(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    one_shot = {"kafka-setup"}
    for name, service in services.items():
        if name not in one_shot:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, spec in service.get("depends_on", {}).items():
            condition = spec["condition"]
            if dep in one_shot:
                assert condition == "service_completed_successfully", (name, dep)
            elif name == "prometheus":
                assert condition == "service_started", (name, dep)  # must alert on them
            else:
                assert condition == "service_healthy", (name, dep)
                assert services[dep].get("healthcheck"), (name, dep)
    assert services["kafka-setup"]["restart"] == "no"
    # the start order: kafka -> topics -> twin and projectors -> prometheus -> grafana
    assert "kafka" in services["kafka-setup"]["depends_on"]
    for name in ("twin", "projector-1", "projector-2"):
        assert "kafka-setup" in services[name]["depends_on"]
    assert {"projector-1", "projector-2"} <= set(services["prometheus"]["depends_on"])
    assert "prometheus" in services["grafana"]["depends_on"]


def test_kafka_settings_match_the_local_test_broker(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, single node
    for key in (
        "auto.create.topics.enable",
        "num.partitions",
        "log.retention.ms",
        "log.message.timestamp.after.max.ms",
        "group.initial.rebalance.delay.ms",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert env["KAFKA_" + key.upper().replace(".", "_")] == DEFAULT_CONFIG[key], key
    internal = re.search(r"INTERNAL://([\w.-]+:\d+)", env["KAFKA_ADVERTISED_LISTENERS"])
    assert internal and internal.group(1) == "kafka:19092"
    assert "EXTERNAL://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "9092:9092" in str(resolved["services"]["kafka"]["ports"][0]) or resolved["services"][
        "kafka"
    ]["ports"][0].get("published") in (9092, "9092")


def test_topic_setup_creates_event_and_dead_letter_topics(resolved: dict[str, Any]) -> None:
    script = "\n".join(resolved["services"]["kafka-setup"]["command"]).replace("\\\n", " ")
    created: dict[str, list[str]] = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if "--create" in words:
            assert "--if-not-exists" in words  # the set-up can run again
            assert words[words.index("--bootstrap-server") + 1] == "kafka:19092"
            created[words[words.index("--topic") + 1]] = words
    assert set(created) == {DEFAULT_TOPIC, DEFAULT_TOPIC + DLQ_SUFFIX}
    events = created[DEFAULT_TOPIC]
    assert events[events.index("--partitions") + 1] == "6"
    for words in created.values():
        configs = [words[i + 1] for i, w in enumerate(words) if w == "--config"]
        assert "retention.ms=-1" in configs


def _scripts() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    scripts: dict[str, str] = data["project"]["scripts"]
    return scripts


def test_twin_command_uses_configurable_scenario_and_speed(raw: dict[str, Any]) -> None:
    command = raw["services"]["twin"]["command"]
    assert "${TWIN_SCENARIO:-demo}" in command
    assert command[command.index("--speed") + 1] == "${TWIN_SPEED:-600}"


def test_twin_command_parses(resolved: dict[str, Any]) -> None:
    from services.cli import build_parser

    command = resolved["services"]["twin"]["command"]
    assert command[0] == "twin" and "twin" in _scripts()
    args = build_parser().parse_args(command[1:])
    assert args.command == "run" and args.live and args.scenario == "demo"
    assert args.speed == 600.0
    assert args.bootstrap_server == "kafka:19092" and args.topic == DEFAULT_TOPIC
    assert args.metrics_port == _prometheus_targets()["twin-live"][0][1]
    done = compose_config(GF_ADMIN_PASSWORD=PASSWORD, TWIN_SCENARIO="suncatcher", TWIN_SPEED="60")
    assert done.returncode == 0, done.stderr
    override = yaml.safe_load(done.stdout)["services"]["twin"]["command"]
    args = build_parser().parse_args(override[1:])
    assert (args.scenario, args.speed) == ("suncatcher", 60.0)


def test_shard_service_runs_one_shard_of_n_into_its_own_partitions(
    resolved: dict[str, Any],
) -> None:
    """The shard service is opt-in (profile), and each container gets its shard from the
    environment: K/N, a log of its own, a topic with enough partitions for N shards."""
    from services.cli import build_parser
    from twin.sim.engine import config_from_scenario
    from twin.sim.scenario import resolve_scenario
    from twin.sim.shards import Shard, check_shardable

    service = resolved["services"]["twin-shard"]
    assert service["profiles"] == ["shards"]  # `docker compose up` does not start it
    assert "kafka-setup" in service["depends_on"]
    default = build_parser().parse_args(service["command"][1:])
    assert default.scenario == "walker-scale"  # a preset that can be sharded
    check_shardable(config_from_scenario(resolve_scenario(default.scenario)), 12)
    done = compose_config(
        GF_ADMIN_PASSWORD=PASSWORD,
        TWIN_SHARD_INDEX="2",
        TWIN_SHARDS="4",
        TWIN_SHARD_SCENARIO="x.toml",
        TWIN_SCENARIO="demo",  # the live run's, not the shards'
    )
    assert done.returncode == 0, done.stderr
    shard = yaml.safe_load(done.stdout)["services"]["twin-shard"]
    args = build_parser().parse_args(shard["command"][1:])
    assert args.command == "run" and not args.live and args.scenario == "x.toml"
    assert args.shard == Shard(2, 4) and args.shards is None
    assert args.bootstrap_server == "kafka:19092" and args.topic == "twin.shards"
    assert args.log == "/data/shard-2-of-4.twinlog"  # one log per shard on the shared volume
    assert int(shard["environment"]["TWIN_KAFKA_PARTITIONS"]) % 4 == 0


def test_projector_commands_parse(resolved: dict[str, Any]) -> None:
    assert _scripts()["twin-projector"] == "services.projector.main:main"
    from services.projector.main import build_parser

    done = run(sys.executable, "-m", "services.projector", "--help")
    assert done.returncode == 0, done.stderr
    ports = []
    for name in ("projector-1", "projector-2"):
        command = resolved["services"][name]["command"]
        assert command[0] == "twin-projector"
        args = build_parser().parse_args(command[1:])
        assert (args.bootstrap_server, args.topic, args.group) == (
            "kafka:19092",
            DEFAULT_TOPIC,
            "twin-projector",
        )
        assert args.host == "0.0.0.0"  # reachable from the prometheus container
        # one snapshot database for the group, on the shared volume
        assert args.state_db == "/data/projectors.db"
        ports.append((name, args.port))
        check = " ".join(resolved["services"][name]["healthcheck"]["test"])
        assert f"localhost:{args.port}/healthz" in check
    assert sorted(ports) == sorted(_prometheus_targets()["twin-projector"])
    volumes = [_volumes(resolved["services"][n]) for n in ("projector-1", "projector-2")]
    assert volumes[0] == volumes[1]


def test_dockerfile_builds_the_project_as_a_non_root_user() -> None:
    text = (REPO / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert (
        lines[0].startswith("ARG PYTHON_IMAGE=python:3.11.") and lines[1] == "FROM ${PYTHON_IMAGE}"
    )
    assert re.search(r"pip install -c constraints.txt \.(\s|$)", text)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    ignored = {ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip()}
    for ln in lines:
        if ln.startswith("COPY "):
            for src in ln.split()[1:-1]:
                assert (REPO / src).exists(), src
                assert src.rstrip("/") not in ignored, src


# --------------------------------------------------------------------------- prometheus


def _prometheus_targets(path: Path = PROM_DIR / "prometheus.yml") -> dict[str, list[Any]]:
    config = yaml.safe_load(path.read_text())
    out: dict[str, list[Any]] = {}
    for job in config["scrape_configs"]:
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        out[job["job_name"]] = [(h, int(p)) for h, p in (t.rsplit(":", 1) for t in targets)]
    return out


def test_prometheus_scrapes_the_compose_services(resolved: dict[str, Any]) -> None:
    targets = _prometheus_targets()
    services = resolved["services"]
    for host, _port in targets["twin-projector"] + targets["twin-live"]:
        assert host in services, host
    assert {h for h, _ in targets["twin-projector"]} == {"projector-1", "projector-2"}
    prom = services["prometheus"]
    mounts = {Path(v["source"]): v["target"] for v in _volumes(prom) if v["type"] == "bind"}
    assert mounts[PROM_DIR / "prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts[PROM_DIR / "rules"] == "/etc/prometheus/rules"
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]  # relative to the config file, both places


def test_promtool_check_config() -> None:
    done = run(tool("promtool"), "check", "config", str(PROM_DIR / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(RULE_FILES)} rule files found" in done.stdout


def test_promtool_check_rules() -> None:
    done = run(tool("promtool"), "check", "rules", *map(str, RULE_FILES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    done = run(tool("promtool"), "test", "rules", *map(str, PROM_TESTS), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in PROM_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(alert_rules())
    assert len(alerts) >= 7
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"


def test_alerts_have_severity_and_docs() -> None:
    docs = (REPO / "docs" / "operators.md").read_text()
    for r in rules():
        if "alert" in r:
            assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
            assert r["annotations"]["summary"], r["alert"]
            assert r["alert"] in docs, f"{r['alert']} is not explained in docs/operators.md"


def test_rules_use_catalogue_metrics_and_defined_rules() -> None:
    known = metric_names.series_names() | set(recording_rules()) | BUILTIN_SERIES
    for r in rules():
        name = r.get("record") or r.get("alert")
        unknown = generate.referenced_metrics(r["expr"]) - known
        assert not unknown, f"{name} uses {unknown}"
    for name in recording_rules():
        assert re.fullmatch(r"twin:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_every_recording_rule_is_used() -> None:
    used = {n for _, _, e in generate.panel_queries() for n in generate.referenced_metrics(e)}
    for expr in alert_rules().values():
        used |= generate.referenced_metrics(expr)
    assert set(recording_rules()) - used == set()


# --------------------------------------------------------------------------- grafana


def test_dashboards_are_generated_from_code() -> None:
    done = run(sys.executable, "-m", "grafana.generate", "--check")
    assert done.returncode == 0, done.stderr
    committed = sorted(p.name for p in (GRAFANA_DIR / "dashboards").glob("*.json"))
    assert committed == sorted(generate.BOARDS)


def test_generate_check_detects_drift(tmp_path: Path) -> None:
    assert generate.main(["--out", str(tmp_path)]) == 0
    assert generate.main(["--check", "--out", str(tmp_path)]) == 0
    board = tmp_path / "power-eclipses.json"
    board.write_text(board.read_text().replace("twin:satellites_in_shadow:sum", "twin_x"))
    assert generate.main(["--check", "--out", str(tmp_path)]) == 1


def test_dashboard_structure() -> None:
    datasource = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["uid"] == generate.DATASOURCE["uid"]
    assert datasource["url"] == "http://prometheus:9090"
    boards = generate.dashboards()
    assert len(boards) == len(generate.BOARDS) == 7
    assert len({b["uid"] for b in boards.values()}) == 7
    for board in boards.values():
        assert board["uid"] and board["title"].startswith("Orbital Twin / ")
        panels = board["panels"]
        assert panels
        assert len({p["id"] for p in panels}) == len(panels)
        cells: set[tuple[int, int]] = set()
        for p in panels:
            if p["type"] not in ("row", "alertlist"):  # those query nothing
                assert p["datasource"] == generate.DATASOURCE
                assert p["targets"], p["title"]
            for t in p.get("targets", []):
                assert t["expr"] and t["datasource"] == generate.DATASOURCE
            g = p["gridPos"]
            assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, p["title"]
            mine = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & mine, f"{p['title']} overlaps another panel"
            cells |= mine
            targets = p.get("targets", [])
            assert len({t["refId"] for t in targets}) == len(targets)


def test_board_queries_use_catalogue_metrics_and_defined_rules() -> None:
    known = metric_names.series_names() | set(recording_rules()) | BUILTIN_SERIES
    for uid, title, expr in generate.panel_queries():
        unknown = generate.referenced_metrics(expr) - known
        assert not unknown, f"{uid} / {title}: {unknown} in {expr}"


def test_every_catalogue_metric_is_on_a_board() -> None:
    """Directly in a panel query, or through a recording rule a panel uses."""
    records = recording_rules()
    shown: set[str] = set()
    for _, _, expr in generate.panel_queries():
        for name in generate.referenced_metrics(expr):
            shown.add(name)
            if name in records:
                shown |= generate.referenced_metrics(records[name])
    base = {re.sub(r"_(bucket|gcount|gsum)$", "", n) for n in shown}
    missing_fleet = {m.name for m in metric_names.FLEET} - base
    assert missing_fleet == set()
    # the opt-in per-satellite series (metric_names.SATELLITE) have no board
    missing_any = {m.name for m in metric_names.PIPELINE + metric_names.LIVE} - base
    assert missing_any == set()


def test_referenced_metrics_lexer() -> None:
    expr = (
        'sum by (state, le) (rate(twin_faults_total{component="x",le="0.2"}[5m] offset 1h))'
        " / on (job) group_left clamp_min(twin:repairs:sum, 1) > bool 1e3"
        ' and ignoring (instance) up{job="twin-projector"}'
    )
    assert generate.referenced_metrics(expr) == {"twin_faults_total", "twin:repairs:sum", "up"}
    with pytest.raises(KeyError):
        generate.metric("twin_not_a_metric")
    with pytest.raises(KeyError):
        generate.rule("twin:not:a_rule")


# --------------------------------------------------------------------------- boards at a glance


def test_every_stat_and_gauge_has_thresholds_and_every_panel_a_description() -> None:
    """Rendered through the generator: no stat/gauge falls back to Grafana's default
    (red at 80), every panel says what it shows, every board has rows, annotations
    (alerts, launches, faults, repairs) and links to the others."""
    boards = generate.dashboards()
    assert "satellite.json" in boards
    for name, board in boards.items():
        kinds = [p["type"] for p in board["panels"]]
        assert "row" in kinds, name
        annotations = board["annotations"]["list"]
        assert any(a.get("builtIn") for a in annotations), name
        assert {a["name"] for a in annotations} >= {"Launches", "Faults", "Repairs"}, name
        assert board["links"] and board["links"][0]["tags"] == ["orbital-twin"], name
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["description"], (name, panel["title"])
            if panel["type"] in ("stat", "gauge", "bargauge"):
                defaults = panel["fieldConfig"]["defaults"]
                steps = defaults.get("thresholds", {}).get("steps")
                assert steps and steps[0]["value"] is None, (name, panel["title"])
                assert defaults["color"]["mode"] == "thresholds", (name, panel["title"])
                # a count is not an alarm: no red unless the panel means it
                if len(steps) == 1:
                    assert steps[0]["color"] not in ("red", "dark-red"), (name, panel["title"])
    overview = boards["fleet-overview.json"]
    assert any(p["type"] == "alertlist" for p in overview["panels"])
    assert {v["name"] for v in overview["templating"]["list"]} == {"instance", "shell"}
    by_state = next(p for p in overview["panels"] if p["title"] == "Satellites by state")
    colours = {
        o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
        for o in by_state["fieldConfig"]["overrides"]
    }
    # the plots' colours by meaning (services/figures.py), one per state
    assert colours == {s.value: c for s, c in figures.STATE_COLOURS.items()}


def test_projections_board_follows_the_projection_registry() -> None:
    from twin.projections import metric_specs

    titles = {p["title"] for p in generate.projections()["panels"]}
    for spec in metric_specs():
        assert any(t.endswith(f": {spec.name}") for t in titles), spec.name


def test_every_alert_has_a_runbook_anchor_in_the_operators_guide() -> None:
    docs = (REPO / "docs" / "operators.md").read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+\s+(.+)$", docs, re.M)
    }
    names = []
    for r in rules():
        if "alert" in r:
            url = r["annotations"]["runbook_url"]
            path, _, anchor = url.partition("#")
            assert path == "docs/operators.md" and anchor in anchors, (r["alert"], url)
            names.append(r["alert"])
    assert "SimulatorDown" in names
