"""The compute service as folds: training jobs and goodput, inference by region, ground contacts.

:class:`Workload` applies the job events (each job is its own stream, keyed by the job id on
Kafka, so all of a job's events are in one partition) and ``inference_reported`` (run-level,
in the run's partition). Useful work (**goodput**) is work that was kept: what each
checkpoint saved and the last stretch at completion, plus the accelerator-seconds of inference
served. Work done since a job's last checkpoint when a member stops computing is **lost**,
counted by the event type that stopped it. Work is summed in exact integer
accelerator-milliseconds, so folding partitions separately and merging gives exactly the
fold of the whole log; a job's record is dropped when it completes (counts remain).

:class:`Contacts` applies ``contact_started``/``contact_ended`` (satellite events): seconds,
passes, inference served and data per station, and the contacts open now.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from twin.constants import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_MINUTE,
    SECONDS_PER_WEEK,
)
from twin.events import (
    ContactEnded,
    ContactStarted,
    EventBase,
    InferenceReported,
    JobCompleted,
    JobInterrupted,
    JobStarted,
    JobSubmitted,
)
from twin.projections.base import Projection
from twin.projections.fleet import FleetCore
from twin.projections.specs import HistogramSample, MetricSpec, Sample, restore_error

_M, _H, _D, _W = SECONDS_PER_MINUTE, SECONDS_PER_HOUR, SECONDS_PER_DAY, SECONDS_PER_WEEK
WAIT_BUCKETS_S = (_M, 10 * _M, _H, 6 * _H, _D, _W)
"""Upper bounds of the job wait histogram (1 min … 1 week)."""
COMPLETION_BUCKETS_S = (_H, 6 * _H, _D, 3 * _D, _W, 30 * _D)
"""Upper bounds of the job completion-time histogram (1 h … 30 d)."""


def _ms(x: float) -> int:
    return round(x * 1000.0)


def _bucket(bounds: tuple[float, ...], value: float) -> int:
    """Index of the first bucket whose bound holds ``value`` (len(bounds): +Inf)."""
    return next((i for i, b in enumerate(bounds) if value <= b), len(bounds))


def _histogram(name: str, bounds: tuple[float, ...], counts: list[int], total_s: float) -> Any:
    buckets, running = [], 0
    for bound, n in zip((*bounds, float("inf")), counts, strict=True):
        running += n
        buckets.append(("+Inf" if bound == float("inf") else f"{bound:g}", float(running)))
    return HistogramSample(name, buckets, total_s)


def _histogram_doc(bounds: tuple[float, ...], counts: list[int], total_s: float) -> Any:
    return {
        "le_s": [*bounds, "+Inf"],
        "counts": list(counts),
        "count": sum(counts),
        "sum_s": total_s,
    }


class Workload(Projection):
    name = "workload"
    version = 1
    event_types = frozenset(
        {
            "job_submitted",
            "job_started",
            "job_checkpointed",
            "job_interrupted",
            "job_completed",
            "inference_reported",
        }
    )
    metrics = (
        MetricSpec(
            "twin_workload_goodput_accelerator_seconds_total",
            "counter",
            "Useful work kept: training work checkpointed or completed, and inference served.",
            ("kind",),
            unit="accelerator-seconds",
        ),
        MetricSpec(
            "twin_workload_lost_accelerator_seconds_total",
            "counter",
            "Training work lost since the last checkpoint, by the event that stopped a member.",
            ("cause",),
            unit="accelerator-seconds",
        ),
        MetricSpec(
            "twin_workload_interruptions_total",
            "counter",
            "Training jobs interrupted, by the event that stopped a member.",
            ("cause",),
        ),
        MetricSpec("twin_workload_jobs", "gauge", "Training jobs by state now.", ("state",)),
        MetricSpec("twin_workload_jobs_submitted_total", "counter", "Training jobs submitted."),
        MetricSpec("twin_workload_jobs_completed_total", "counter", "Training jobs completed."),
        MetricSpec(
            "twin_workload_queue_wait_seconds",
            "gauge",
            "How long the longest-waiting queued job has waited, simulated s.",
            unit="s",
            aggregate="max",
        ),
        MetricSpec(
            "twin_workload_job_wait_seconds",
            "gaugehistogram",
            "Time from submission (or interruption) to start of each job start, simulated s.",
            unit="s",
        ),
        MetricSpec(
            "twin_workload_job_completion_seconds",
            "gaugehistogram",
            "Time from submission to completion of completed jobs, simulated s.",
            unit="s",
        ),
        MetricSpec(
            "twin_inference_requests_total",
            "counter",
            "Inference requests demanded, by region.",
            ("region",),
        ),
        MetricSpec(
            "twin_inference_served_total",
            "counter",
            "Inference requests served, by region.",
            ("region",),
        ),
        MetricSpec(
            "twin_inference_unserved_total",
            "counter",
            "Inference requests nobody in contact could serve, by region.",
            ("region",),
        ),
    )

    def __init__(self) -> None:
        self.jobs: dict[str, list[Any]] = {}
        """Job -> [state ("queued" | "running"), queued since (s), submitted at (s)]."""
        self.submitted = 0
        self.completed = 0
        self.training_ms = 0
        """Training goodput, accelerator-milliseconds."""
        self.lost_ms: dict[str, int] = {}
        self.interruptions: dict[str, int] = {}
        self.wait_counts = [0] * (len(WAIT_BUCKETS_S) + 1)
        self.wait_total_s = 0.0
        self.completion_counts = [0] * (len(COMPLETION_BUCKETS_S) + 1)
        self.completion_total_s = 0.0
        self.inference: dict[str, list[float]] = {}
        """Region -> [requests, served, unserved, accelerator-seconds served]."""

    # ------------------------------------------------------------------ apply

    def apply(self, event: EventBase, core: FleetCore) -> None:
        now = core.sim_time_s
        if isinstance(event, JobSubmitted):
            self.submitted += 1
            self.jobs[event.job] = ["queued", now, now]
        elif isinstance(event, JobStarted):
            job = self.jobs.get(event.job)
            if job is not None:
                job[0] = "running"
            self.wait_counts[_bucket(WAIT_BUCKETS_S, event.wait_s)] += 1
            self.wait_total_s += event.wait_s
        elif isinstance(event, JobInterrupted):
            job = self.jobs.get(event.job)
            if job is not None:
                job[0], job[1] = "queued", now
            cause = event.cause_event
            self.lost_ms[cause] = self.lost_ms.get(cause, 0) + _ms(event.lost_accelerator_s)
            self.interruptions[cause] = self.interruptions.get(cause, 0) + 1
        elif isinstance(event, JobCompleted):
            self.jobs.pop(event.job, None)
            self.completed += 1
            self.training_ms += _ms(event.gained_accelerator_s)
            self.completion_counts[_bucket(COMPLETION_BUCKETS_S, event.completion_s)] += 1
            self.completion_total_s += event.completion_s
        elif isinstance(event, InferenceReported):
            row = self.inference.setdefault(event.region, [0.0, 0.0, 0.0, 0.0])
            row[0] += event.requests
            row[1] += event.served
            row[2] += event.unserved
            row[3] += event.served_accelerator_s
        else:  # job_checkpointed
            self.training_ms += _ms(event.gained_accelerator_s)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ views

    def count(self, state: str) -> int:
        return sum(1 for job in self.jobs.values() if job[0] == state)

    def _inference_total(self, column: int) -> float:
        """A column of the inference table summed over regions in name order (the same
        float whatever order the regions were first seen or restored in)."""
        return sum(self.inference[region][column] for region in sorted(self.inference))

    @property
    def inference_accelerator_s(self) -> float:
        return self._inference_total(3)

    @property
    def goodput_accelerator_s(self) -> float:
        """Training work kept plus inference served, accelerator-seconds."""
        return self.training_ms / 1000.0 + self.inference_accelerator_s

    @property
    def lost_accelerator_s(self) -> float:
        return sum(self.lost_ms.values()) / 1000.0

    def queue_wait_s(self, core: FleetCore) -> float:
        """Wait so far of the longest-waiting queued job (0 when none waits)."""
        since = [job[1] for job in self.jobs.values() if job[0] == "queued"]
        return max(0.0, core.sim_time_s - min(since)) if since else 0.0

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        available_h = core.integrals()["compute_accelerator_hours"]
        goodput_h = self.goodput_accelerator_s / SECONDS_PER_HOUR
        served = self._inference_total(1)
        unserved = self._inference_total(2)
        return {
            "workload": {
                "goodput_accelerator_hours": goodput_h,
                "training_goodput_accelerator_hours": self.training_ms / 1000.0 / SECONDS_PER_HOUR,
                "inference_accelerator_hours": self.inference_accelerator_s / SECONDS_PER_HOUR,
                "lost_accelerator_hours": self.lost_accelerator_s / SECONDS_PER_HOUR,
                "lost_accelerator_hours_by_cause": {
                    cause: ms / 1000.0 / SECONDS_PER_HOUR
                    for cause, ms in sorted(self.lost_ms.items())
                },
                "interruptions_by_cause": dict(sorted(self.interruptions.items())),
                "available_accelerator_hours": available_h,
                "goodput_ratio": goodput_h / available_h if available_h > 0 else None,
                "jobs": {
                    "submitted": self.submitted,
                    "queued": self.count("queued"),
                    "running": self.count("running"),
                    "completed": self.completed,
                },
                "queue_wait_max_s": self.queue_wait_s(core),
                "job_wait_s": _histogram_doc(WAIT_BUCKETS_S, self.wait_counts, self.wait_total_s),
                "job_completion_s": _histogram_doc(
                    COMPLETION_BUCKETS_S, self.completion_counts, self.completion_total_s
                ),
                "inference_requests": self._inference_total(0),
                "inference_served": served,
                "inference_unserved": unserved,
                "inference_by_region": {
                    region: {"requests": row[0], "served": row[1], "unserved": row[2]}
                    for region, row in sorted(self.inference.items())
                },
            }
        }

    def collect(self, core: FleetCore) -> Iterator[Sample | HistogramSample]:
        yield Sample(
            "twin_workload_goodput_accelerator_seconds_total",
            ("training",),
            self.training_ms / 1000.0,
        )
        yield Sample(
            "twin_workload_goodput_accelerator_seconds_total",
            ("inference",),
            self.inference_accelerator_s,
        )
        for cause, ms in sorted(self.lost_ms.items()):
            yield Sample("twin_workload_lost_accelerator_seconds_total", (cause,), ms / 1000.0)
        for cause, n in sorted(self.interruptions.items()):
            yield Sample("twin_workload_interruptions_total", (cause,), n)
        yield Sample("twin_workload_jobs", ("queued",), self.count("queued"))
        yield Sample("twin_workload_jobs", ("running",), self.count("running"))
        yield Sample("twin_workload_jobs_submitted_total", (), self.submitted)
        yield Sample("twin_workload_jobs_completed_total", (), self.completed)
        yield Sample("twin_workload_queue_wait_seconds", (), self.queue_wait_s(core))
        yield _histogram(
            "twin_workload_job_wait_seconds", WAIT_BUCKETS_S, self.wait_counts, self.wait_total_s
        )
        yield _histogram(
            "twin_workload_job_completion_seconds",
            COMPLETION_BUCKETS_S,
            self.completion_counts,
            self.completion_total_s,
        )
        for region, row in sorted(self.inference.items()):
            yield Sample("twin_inference_requests_total", (region,), row[0])
            yield Sample("twin_inference_served_total", (region,), row[1])
            yield Sample("twin_inference_unserved_total", (region,), row[2])

    # ------------------------------------------------------------------ snapshots, merge

    def snapshot(self) -> Any:
        return {
            "jobs": self.jobs,
            "submitted": self.submitted,
            "completed": self.completed,
            "training_ms": self.training_ms,
            "lost_ms": self.lost_ms,
            "interruptions": self.interruptions,
            "wait": [self.wait_counts, self.wait_total_s],
            "completion": [self.completion_counts, self.completion_total_s],
            "inference": self.inference,
        }

    @classmethod
    def restore(cls, doc: Any) -> Workload:
        out = cls()
        try:
            out.jobs = {k: list(v) for k, v in doc["jobs"].items()}
            out.submitted = int(doc["submitted"])
            out.completed = int(doc["completed"])
            out.training_ms = int(doc["training_ms"])
            out.lost_ms = {k: int(v) for k, v in doc["lost_ms"].items()}
            out.interruptions = {k: int(v) for k, v in doc["interruptions"].items()}
            out.wait_counts = [int(x) for x in doc["wait"][0]]
            out.wait_total_s = float(doc["wait"][1])
            out.completion_counts = [int(x) for x in doc["completion"][0]]
            out.completion_total_s = float(doc["completion"][1])
            out.inference = {k: [float(x) for x in v] for k, v in doc["inference"].items()}
            if len(out.wait_counts) != len(WAIT_BUCKETS_S) + 1:
                raise ValueError("wait histogram has the wrong number of buckets")
            if len(out.completion_counts) != len(COMPLETION_BUCKETS_S) + 1:
                raise ValueError("completion histogram has the wrong number of buckets")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise restore_error(cls.name, exc) from None
        return out

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> Workload:
        """Each job lives in one partition: records unite, counts and sums add."""
        out = cls()
        for p in parts:
            out.jobs.update(p.jobs)
            out.submitted += p.submitted
            out.completed += p.completed
            out.training_ms += p.training_ms
            for cause, ms in p.lost_ms.items():
                out.lost_ms[cause] = out.lost_ms.get(cause, 0) + ms
            for cause, n in p.interruptions.items():
                out.interruptions[cause] = out.interruptions.get(cause, 0) + n
            out.wait_counts = [a + b for a, b in zip(out.wait_counts, p.wait_counts, strict=True)]
            out.wait_total_s += p.wait_total_s
            out.completion_counts = [
                a + b for a, b in zip(out.completion_counts, p.completion_counts, strict=True)
            ]
            out.completion_total_s += p.completion_total_s
            for region, row in p.inference.items():
                mine = out.inference.setdefault(region, [0.0, 0.0, 0.0, 0.0])
                for i, x in enumerate(row):
                    mine[i] += x
        return out


class Contacts(Projection):
    name = "contacts"
    version = 1
    event_types = frozenset({"contact_started", "contact_ended"})
    metrics = (
        MetricSpec(
            "twin_contact_seconds_total",
            "counter",
            "Time satellites spent in contact with each ground station (ended contacts), s.",
            ("station",),
            unit="s",
        ),
        MetricSpec("twin_contacts_total", "counter", "Ended contacts by station.", ("station",)),
        MetricSpec("twin_contacts_open", "gauge", "Satellites in contact now.", ("station",)),
        MetricSpec(
            "twin_contact_inference_served_total",
            "counter",
            "Inference requests served through each station's contacts.",
            ("station",),
        ),
    )

    def __init__(self) -> None:
        self.seconds_ms: dict[str, int] = {}
        self.passes: dict[str, int] = {}
        self.served: dict[str, float] = {}
        self.data_gb: dict[str, float] = {}
        self.open: dict[str, dict[str, float]] = {}
        """Satellite -> station -> AOS (s) of its open contacts."""

    def apply(self, event: EventBase, core: FleetCore) -> None:
        sat = event.satellite or ""
        if isinstance(event, ContactStarted):
            self.open.setdefault(sat, {})[event.station] = core.sim_time_s
            self.seconds_ms.setdefault(event.station, 0)
            self.passes.setdefault(event.station, 0)
        elif isinstance(event, ContactEnded):
            st = event.station
            self.seconds_ms[st] = self.seconds_ms.get(st, 0) + _ms(event.duration_s)
            self.passes[st] = self.passes.get(st, 0) + 1
            self.served[st] = self.served.get(st, 0.0) + event.inference_served
            self.data_gb[st] = self.data_gb.get(st, 0.0) + event.data_gb
            opened = self.open.get(sat)
            if opened is not None:
                opened.pop(st, None)
                if not opened:
                    del self.open[sat]

    def retire(self, sat_id: str) -> None:
        self.open.pop(sat_id, None)

    def open_by_station(self) -> dict[str, int]:
        out = dict.fromkeys(self.seconds_ms, 0)
        for stations in self.open.values():
            for st in stations:
                out[st] = out.get(st, 0) + 1
        return dict(sorted(out.items()))

    def summary(self, core: FleetCore) -> dict[str, dict[str, Any]]:
        return {
            "contacts": {
                "seconds_by_station": {
                    st: ms / 1000.0 for st, ms in sorted(self.seconds_ms.items())
                },
                "contacts_by_station": dict(sorted(self.passes.items())),
                "open_by_station": self.open_by_station(),
                "inference_served_by_station": dict(sorted(self.served.items())),
                "data_gb_by_station": dict(sorted(self.data_gb.items())),
            }
        }

    def collect(self, core: FleetCore) -> Iterator[Sample]:
        for st, ms in sorted(self.seconds_ms.items()):
            yield Sample("twin_contact_seconds_total", (st,), ms / 1000.0)
            yield Sample("twin_contacts_total", (st,), self.passes.get(st, 0))
            yield Sample("twin_contact_inference_served_total", (st,), self.served.get(st, 0.0))
        for st, n in self.open_by_station().items():
            yield Sample("twin_contacts_open", (st,), n)

    def snapshot(self) -> Any:
        return {
            "seconds_ms": self.seconds_ms,
            "passes": self.passes,
            "served": self.served,
            "data_gb": self.data_gb,
            "open": self.open,
        }

    @classmethod
    def restore(cls, doc: Any) -> Contacts:
        out = cls()
        try:
            out.seconds_ms = {k: int(v) for k, v in doc["seconds_ms"].items()}
            out.passes = {k: int(v) for k, v in doc["passes"].items()}
            out.served = {k: float(v) for k, v in doc["served"].items()}
            out.data_gb = {k: float(v) for k, v in doc["data_gb"].items()}
            out.open = {k: {s: float(t) for s, t in v.items()} for k, v in doc["open"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise restore_error(cls.name, exc) from None
        return out

    @classmethod
    def merge(cls, parts: Sequence[Any], core: FleetCore) -> Contacts:
        """Satellites are disjoint across partitions: sums add, open contacts unite."""
        out = cls()
        for p in parts:
            for st, ms in p.seconds_ms.items():
                out.seconds_ms[st] = out.seconds_ms.get(st, 0) + ms
            for st, n in p.passes.items():
                out.passes[st] = out.passes.get(st, 0) + n
            for st, x in p.served.items():
                out.served[st] = out.served.get(st, 0.0) + x
            for st, x in p.data_gb.items():
                out.data_gb[st] = out.data_gb.get(st, 0.0) + x
            out.open.update(p.open)
        return out
