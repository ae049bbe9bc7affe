"""The compute service: training jobs on ISL clusters, inference through ground contacts.

The :class:`WorkloadService` runs inside the engine's SimPy environment and decides, emits
and applies like the rest of the engine (no state outside the events it writes is needed to
fold a run):

* **Ground contacts.** Per window (a day), contacts of every satellite in orbit with every
  ground station are computed for the fleet at once (:func:`twin.physics.contacts.contact_table`)
  and walked in time order: ``contact_started`` at AOS, ``contact_ended`` at LOS with the
  inference served and the data the link could carry.
* **Training.** Jobs arrive (a fixed list and/or a seeded Poisson process per class) and
  queue. The scheduler places a queued job (first fit, in queue order) on a chain of
  satellites linked by ISLs within one plane (:func:`twin.physics.links.ring_clusters` over
  the satellites computing now) with enough free members. A running job computes at its rate
  (accelerators), saves a checkpoint every ``checkpoint_every`` of computing (paying
  ``checkpoint_cost``) and completes when its work is done. A member that stops computing
  (load shed, fault, reboot, repair, deorbit) or loses accelerators interrupts it **at that
  event's sim time**, right after the event: the work since the last checkpoint is lost,
  the job queues again and pays ``restart_cost`` when it restarts.
* **Inference.** Every ``inference_step`` each region's demand (diurnal profile) is served
  by free satellites in contact with its station or within ``isl_hops`` links of one, within
  the latency budget; what nobody can serve is unserved. Totals are reported per region every
  ``inference_interval`` (``inference_reported``) and per contact (``contact_ended``): the
  number of events does not grow with the request rate.

Random arrivals come from generators seeded by ``(seed, 0x70B, class index)``, so the same
scenario and seed give the same events.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from twin import events as ev
from twin.constants import SECONDS_PER_DAY, SECONDS_PER_HOUR
from twin.lifecycle import COMPUTING, IN_ORBIT, TERMINAL, State
from twin.physics.contacts import contact_table, max_slant_range_km
from twin.physics.geometry import Station
from twin.physics.links import hops_between, max_link_angle_deg, ring_clusters
from twin.sim.scenario import InferenceClass, TrainingClass, Workload

Engine = Any
"""The :class:`twin.sim.engine.Engine` hosting the service (not imported: the engine imports
this module)."""
Sat = Any
"""The engine's working record of a satellite (:class:`twin.sim.engine.Sat`)."""
ProcessGen = Generator[simpy.Event, Any, None]

LIGHT_KM_S = 299_792.458
_GONE = TERMINAL | {State.DEORBITING}
_CONTACT_MARGIN_S = SECONDS_PER_HOUR
"""Contacts are searched this far past a window's end, so a pass that starts inside the
window finds its LOS."""


def _r3(x: float) -> float:
    """Wire precision of work and times: milli-units."""
    return round(x, 3)


@dataclass
class Job:
    """A training job's working record (the engine's side; the fold keeps its own)."""

    id: str
    cls: TrainingClass
    satellites: int
    accelerators: int | None
    work_s: float
    """Work in accelerator-seconds."""
    submitted_at: float
    queued_since: float
    seq: int = 0
    saved: float = 0.0
    running: bool = False
    restarts: int = 0
    members: list[Sat] = field(default_factory=list)
    member_compute: dict[int, int] = field(default_factory=dict)
    rate: float = 0.0
    phase: str = ""
    seg_start: float = 0.0
    seg_work: float = 0.0
    token: int = 0


class WorkloadService:
    """Training, inference and ground contacts of one engine run (see the module doc)."""

    def __init__(self, engine: Engine, workload: Workload) -> None:
        self.engine = engine
        self.env = engine.env
        self.w = workload
        cfg = engine.cfg
        self.stations = [
            Station(g.name, g.lat_deg, g.lon_deg, g.alt_m / 1000.0)
            for g in cfg.scenario.ground_stations
        ]
        self.masks = [g.min_elevation_deg for g in cfg.scenario.ground_stations]
        self.queue: list[Job] = []
        self.busy: dict[int, Job] = {}
        self.usable: dict[int, float] = {}
        """Satellites computing and free to take work -> since when (s)."""
        self.in_contact: list[dict[int, float]] = [{} for _ in self.stations]
        """Per station: satellites in contact -> AOS time."""
        self.contact_served: dict[tuple[int, int], float] = {}
        self._jobs_made = 0
        altitude = {s.shell: s.altitude_km for s in cfg.shells}
        self.link_angle = {
            shell: max_link_angle_deg(alt, workload.isl_max_range_km)
            for shell, alt in altitude.items()
        }
        self.planes: dict[tuple[int, int], list[Sat]] = {}
        for sat in engine.sats:
            self.planes.setdefault((sat.shell, sat.plane), []).append(sat)
        self._reach: dict[tuple[str, int], list[int]] = {}
        max_alt = max(altitude.values(), default=550.0)
        self.hops_allowed = {
            (cls.name, k): self._hops_allowed(cls, max_slant_range_km(max_alt, self.masks[k]))
            for cls in workload.inference
            for k in range(len(self.stations))
        }

    # -- set-up ---------------------------------------------------------------------------

    def _hops_allowed(self, cls: InferenceClass, slant_km: float) -> int:
        """ISL hops a request may take within its latency budget (round trip at the speed of
        light over the longest ground link and ``isl_max_range_km`` per hop); -1 when even
        the ground link is too long."""
        budget_s = cls.latency_budget_ms / 1000.0
        ground_s = 2.0 * slant_km / LIGHT_KM_S
        if ground_s > budget_s:
            return -1
        hop_s = 2.0 * self.w.isl_max_range_km / LIGHT_KM_S
        return min(cls.isl_hops, int((budget_s - ground_s) / hop_s + 1e-9))

    def start(self) -> None:
        env = self.env
        for k, cls in enumerate(self.w.training):
            env.process(self._arrivals(k, cls))
        if self.stations:
            env.process(self._contacts())
        if self.w.inference:
            env.process(self._inference())

    # -- satellites -----------------------------------------------------------------------

    def satellite_changed(self, sat: Sat, etype: str) -> None:
        """Called by the engine right after each of a satellite's transitions (``etype``):
        interrupt its job if it stopped computing or lost accelerators; place queued jobs
        when it became free to compute."""
        now_usable = sat.state in COMPUTING and sat.compute_online > 0
        job = self.busy.get(sat.index)
        if job is not None:
            if not now_usable or sat.compute_online < job.member_compute[sat.index]:
                self._interrupt(job, sat, etype)
            return
        was = sat.index in self.usable
        if now_usable and not was:
            self.usable[sat.index] = self.env.now
            if self.queue:
                self._schedule()
        elif was and not now_usable:
            del self.usable[sat.index]

    # -- training -------------------------------------------------------------------------

    def _arrivals(self, k: int, cls: TrainingClass) -> ProcessGen:
        env, until = self.env, self.engine.cfg.until_s
        times = [t for t in cls.submit_at_s if t < until]
        if cls.arrivals_per_day > 0:
            rng = self.engine._rng(0x70B, k)
            mean_s = SECONDS_PER_DAY / cls.arrivals_per_day
            t = float(rng.exponential(mean_s))
            while t < until:
                times.append(t)
                t += float(rng.exponential(mean_s))
        for n, t in enumerate(sorted(times), start=1):
            if t > env.now:
                yield env.timeout(t - env.now)
            self._submit(cls, n)

    def _emit(self, job: Job, cls: type[ev.JobEvent], **fields: Any) -> None:
        job.seq += 1
        self.engine._send(cls, job.seq, job=job.id, job_class=job.cls.name, **fields)

    def _submit(self, cls: TrainingClass, n: int) -> None:
        acc = self.engine.cfg.bus.accelerators
        if cls.satellites is not None:
            sats, accelerators = cls.satellites, None
        else:
            accelerators = int(cls.accelerators or 0)
            sats = max(1, -(-accelerators // max(self.engine._compute_sun or acc, 1)))
        job = Job(
            id=f"{cls.name}-{n:05d}",
            cls=cls,
            satellites=sats,
            accelerators=accelerators,
            work_s=cls.work_accelerator_hours * SECONDS_PER_HOUR,
            submitted_at=self.env.now,
            queued_since=self.env.now,
        )
        self._emit(
            job,
            ev.JobSubmitted,
            satellites=sats,
            accelerators=accelerators or sats * (self.engine._compute_sun or acc),
            work_accelerator_s=_r3(job.work_s),
        )
        self.queue.append(job)
        self._schedule()

    def _schedule(self) -> None:
        """Place queued jobs, in queue order, first fit (a job that does not fit now does not
        hold back smaller ones behind it)."""
        if not self.queue or not self.usable:
            return
        chains = self._chains()
        for job in list(self.queue):
            for name, members in chains:
                chosen = self._pick(job, members)
                if chosen is not None:
                    self._start(job, name, chosen)
                    chains = self._chains()
                    break

    def _chains(self) -> list[tuple[str, list[Sat]]]:
        """ISL chains among the satellites computing now, per plane, with their free members
        in phase order (busy members still relay)."""
        out: list[tuple[str, list[Sat]]] = []
        for (shell, plane), sats in self.planes.items():
            computing = [s for s in sats if s.state in COMPUTING and s.compute_online > 0]
            if not computing:
                continue
            phases = np.asarray([s.phase_deg for s in computing])
            labels = ring_clusters(phases, self.link_angle.get(shell, 180.0)).tolist()
            order = np.argsort(phases, kind="stable").tolist()
            chains: dict[int, list[Sat]] = {}
            for i in order:
                chains.setdefault(labels[i], []).append(computing[i])
            for label, members in sorted(chains.items()):
                free = [s for s in members if s.index in self.usable]
                if free:
                    out.append((f"S{shell}-P{plane:02d}-C{label}", free))
        return out

    def _pick(self, job: Job, free: list[Sat]) -> list[Sat] | None:
        if job.accelerators is None:
            return free[: job.satellites] if len(free) >= job.satellites else None
        chosen, total = [], 0
        for sat in free:
            chosen.append(sat)
            total += sat.compute_online
            if total >= job.accelerators:
                return chosen
        return None

    def _start(self, job: Job, cluster: str, members: list[Sat]) -> None:
        now = self.env.now
        self.queue.remove(job)
        for sat in members:
            self.busy[sat.index] = job
            self.usable.pop(sat.index, None)
        job.members = members
        job.member_compute = {s.index: s.compute_online for s in members}
        job.rate = float(
            job.accelerators
            if job.accelerators is not None
            else sum(s.compute_online for s in members)
        )
        job.running = True
        job.token += 1
        self._emit(
            job,
            ev.JobStarted,
            members=tuple(s.id for s in members),
            cluster=cluster,
            wait_s=_r3(now - job.queued_since),
            restart=job.restarts > 0,
            saved_accelerator_s=_r3(job.saved),
        )
        self.env.process(self._run(job, job.token))

    def _run(self, job: Job, token: int) -> ProcessGen:
        env, cls = self.env, job.cls
        if job.restarts:
            job.phase = "restart"
            yield env.timeout(cls.restart_cost_s)
            if job.token != token:
                return
        while True:
            remaining = job.work_s - job.saved
            last = remaining <= cls.checkpoint_every_s * job.rate
            seg_s = remaining / job.rate if last else cls.checkpoint_every_s
            job.phase, job.seg_start = "compute", env.now
            yield env.timeout(seg_s)
            if job.token != token:
                return
            if last:
                self._complete(job, remaining)
                return
            job.phase, job.seg_work = "checkpoint", seg_s * job.rate
            yield env.timeout(cls.checkpoint_cost_s)
            if job.token != token:
                return
            job.saved += job.seg_work
            self._emit(
                job,
                ev.JobCheckpointed,
                saved_accelerator_s=_r3(job.saved),
                gained_accelerator_s=_r3(job.seg_work),
            )

    def _release(self, job: Job) -> None:
        now = self.env.now
        for sat in job.members:
            del self.busy[sat.index]
            if sat.state in COMPUTING and sat.compute_online > 0:
                self.usable[sat.index] = now
        job.members = []
        job.running = False
        job.token += 1

    def _complete(self, job: Job, gained: float) -> None:
        self._release(job)
        job.saved = job.work_s
        self._emit(
            job,
            ev.JobCompleted,
            gained_accelerator_s=_r3(gained),
            work_accelerator_s=_r3(job.work_s),
            completion_s=_r3(self.env.now - job.submitted_at),
        )
        self._schedule()

    def _interrupt(self, job: Job, cause: Sat, etype: str) -> None:
        now = self.env.now
        if job.phase == "compute":
            lost = (now - job.seg_start) * job.rate
        elif job.phase == "checkpoint":
            lost = job.seg_work
        else:
            lost = 0.0
        self._release(job)
        job.restarts += 1
        job.queued_since = now
        self._emit(
            job,
            ev.JobInterrupted,
            cause_satellite=cause.id,
            cause_event=etype,
            lost_accelerator_s=_r3(lost),
            saved_accelerator_s=_r3(job.saved),
        )
        self.queue.append(job)
        self._schedule()

    # -- ground contacts ------------------------------------------------------------------

    def _contacts(self) -> ProcessGen:
        env, eng = self.env, self.engine
        cfg = eng.cfg
        plan = cfg.scenario.launch
        deploy_s = plan.deployment_s if plan is not None else 0.0
        open_: dict[tuple[int, int], float] = {}
        t = 0.0
        while t < cfg.until_s:
            t1 = min(t + cfg.eclipse_window_s, cfg.until_s)
            idx = [
                s.index
                for s in eng.sats
                if s.launch_ok and s.launch_s + deploy_s < t1 and s.state not in _GONE
            ]
            steps: list[tuple[float, int, int, int]] = []
            if idx:
                table = contact_table(
                    [cfg.fleet.satrecs[i] for i in idx],
                    cfg.epoch,
                    t,
                    t1 + _CONTACT_MARGIN_S,
                    self.stations,
                    self.masks,
                )
                aos = table.aos_s
                take = (np.isnan(aos) & (t == 0.0)) | ((aos >= t) & (aos < t1))
                rows = np.flatnonzero(take)
                start = np.where(np.isnan(aos[rows]), t, aos[rows]).tolist()
                los = table.los_s[rows]
                end = np.where(np.isnan(los), t1 + _CONTACT_MARGIN_S, los).tolist()
                owner = np.asarray(idx)[table.sat[rows]].tolist()
                station = table.station[rows].tolist()
                for a, b, k, st in zip(start, end, owner, station, strict=True):
                    steps.append((a, 1, k, st))  # AOS
                    steps.append((b, 0, k, st))  # LOS (before an AOS at the same time)
            steps.sort()
            for when, is_aos, k, st in steps:
                if when > env.now:
                    yield env.timeout(when - env.now)
                sat = eng.sats[k]
                if is_aos:
                    if sat.state in IN_ORBIT and sat.state not in _GONE:
                        open_[k, st] = env.now
                        self.in_contact[st][k] = env.now
                        eng._note(sat, ev.ContactStarted, station=self.stations[st].name)
                    continue
                began = open_.pop((k, st), None)
                if began is None:
                    continue
                self.in_contact[st].pop(k, None)
                served = self.contact_served.pop((k, st), 0.0)
                if sat.state in IN_ORBIT:
                    duration = env.now - began
                    eng._note(
                        sat,
                        ev.ContactEnded,
                        station=self.stations[st].name,
                        duration_s=_r3(duration),
                        inference_served=_r3(served),
                        data_gb=_r3(duration * self.w.downlink_gbps / 8.0),
                    )
            if t1 > env.now:
                yield env.timeout(t1 - env.now)
            t = t1

    # -- inference ------------------------------------------------------------------------

    def _rate(self, region: Any, t_s: float) -> float:
        """Requests per second of ``region`` at ``t_s`` (diurnal profile in local solar time)."""
        station = self.stations[self._station_index(region.station)]
        epoch = self.engine.cfg.epoch
        midnight = epoch.replace(hour=0, minute=0, second=0, microsecond=0)
        utc_h = ((epoch - midnight).total_seconds() + t_s) / SECONDS_PER_HOUR
        local_h = (utc_h + station.lon_deg / 15.0) % 24.0
        phase = 2.0 * math.pi * (local_h - region.peak_local_hour) / 24.0
        return float(region.requests_per_s * (1.0 + region.diurnal_amplitude * math.cos(phase)))

    def _station_index(self, name: str) -> int:
        return next(k for k, s in enumerate(self.stations) if s.name == name)

    def _reachable(self, cls: InferenceClass, k: int, hops: int) -> list[int]:
        """Satellites within ``hops`` links of satellite ``k`` in its plane (``k`` first)."""
        key = (cls.name, k)
        got = self._reach.get(key)
        if got is None:
            sat = self.engine.sats[k]
            angle = self.link_angle.get(sat.shell, 180.0)
            got = [k] + [
                s.index
                for s in self.planes[sat.shell, sat.plane]
                if s.index != k and hops_between(sat.phase_deg, s.phase_deg, angle) <= hops
            ]
            self._reach[key] = got
        return got

    def _inference(self) -> ProcessGen:
        env, w = self.env, self.w
        until = self.engine.cfg.until_s
        totals: dict[tuple[str, str], list[float]] = {
            (c.name, r.name): [0.0, 0.0, 0.0] for c in w.inference for r in c.regions
        }
        interval_start = 0.0
        while env.now < until:
            step_start = env.now
            interval_end = min(interval_start + w.inference_interval_s, until)
            dt = min(w.inference_step_s, interval_end - env.now)
            yield env.timeout(dt)
            mid = step_start + dt / 2.0
            capacity: dict[int, float] = {}
            for cls in w.inference:
                for region in cls.regions:
                    demand = self._rate(region, mid) * dt
                    served, work = self._serve(cls, region, demand, dt, step_start, capacity)
                    row = totals[cls.name, region.name]
                    row[0] += demand
                    row[1] += served
                    row[2] += work
            if env.now >= interval_end - 1e-9:
                span = env.now - interval_start
                for cls in w.inference:
                    for region in cls.regions:
                        requests, served, work = totals[cls.name, region.name]
                        self.engine._emit_run(
                            ev.InferenceReported,
                            inference_class=cls.name,
                            region=region.name,
                            interval_s=_r3(span),
                            requests=_r3(requests),
                            served=_r3(served),
                            unserved=_r3(max(requests - served, 0.0)),
                            served_accelerator_s=_r3(work),
                        )
                        totals[cls.name, region.name] = [0.0, 0.0, 0.0]
                interval_start = env.now

    def _serve(
        self,
        cls: InferenceClass,
        region: Any,
        demand: float,
        dt: float,
        step_start: float,
        capacity: dict[int, float],
    ) -> tuple[float, float]:
        """Serve ``demand`` requests of one step through the region's station: each
        satellite in contact brings the spare capacity of itself and its ISL neighbours
        (free and computing the whole step). Returns (served requests, accelerator-s)."""
        st = self._station_index(region.station)
        hops = self.hops_allowed[cls.name, st]
        if hops < 0 or demand <= 0.0:
            return 0.0, 0.0
        per_request = cls.work_per_request_accelerator_s
        left = demand
        for k in sorted(self.in_contact[st]):
            if left <= 0.0:
                break
            through = 0.0
            for j in self._reachable(cls, k, hops):
                since = self.usable.get(j)
                if since is None or since > step_start:
                    continue
                cap = capacity.get(j)
                if cap is None:
                    cap = self.engine.sats[j].compute_online * dt
                take = min(cap, left * per_request)
                if take <= 0.0:
                    continue
                capacity[j] = cap - take
                through += take / per_request
                left -= take / per_request
                if left <= 1e-12:
                    left = 0.0
                    break
            if through:
                key = (k, st)
                self.contact_served[key] = self.contact_served.get(key, 0.0) + through
        served = demand - left
        return served, served * per_request
