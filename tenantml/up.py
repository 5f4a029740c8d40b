"""``tenantml up``: every tenant's platform on the embedded AWS emulator, on this machine.

One ``up`` owns one emulator. It validates the specs, starts moto on 127.0.0.1, synthesizes
the stacks, applies them (the same ``cdk.tf.json`` a real deploy uses), starts the Lambda
runtime, runs each tenant's ML lifecycle, and writes ``.tenantml/up.json`` (endpoint,
outputs, endpoints) for scripts, tests and the other commands. It then waits for Ctrl-C or
SIGTERM (or returns at once with ``--once``) and shuts everything down, removing ``up.json``
and the state files, which describe an emulator that no longer exists.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import EmulatorAlreadyRunningError, ProblemsError, UsageError
from core.platform import PlatformSpec, tenant_account
from core.spec import TenantSpec
from tenantml.emulator import server as emulator
from tenantml.emulator.commands import TenantApply, apply_tenants
from tenantml.emulator.file_lock import FileLock
from tenantml.emulator.iam_enforcement import requested as iam_requested
from tenantml.emulator.state import write_atomic
from tenantml.up_file import RUN_DIR, UP_FILE

STATE_DIR = RUN_DIR / "state"


@dataclass(frozen=True)
class RunningEmulator:
    """What ``up.json`` says about the emulator that is running now."""

    endpoint: str
    pid: int
    region: str
    tenants: dict[str, dict[str, Any]]
    state_dir: Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_running(up_file: Path = UP_FILE) -> RunningEmulator | None:
    """The emulator ``up.json`` describes, if its process is alive; a stale file is removed."""
    if not up_file.exists():
        return None
    try:
        data = json.loads(up_file.read_text())
        running = RunningEmulator(
            endpoint=data["emulator"]["endpoint"],
            pid=int(data["emulator"]["pid"]),
            region=data["emulator"]["region"],
            tenants=data.get("tenants", {}),
            state_dir=Path(data["emulator"]["state_dir"]),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError(
            f"{up_file} is not a tenantml up summary ({err}); remove it if no `tenantml up` runs"
        ) from err
    if not _alive(running.pid):
        up_file.unlink(missing_ok=True)
        return None
    return running


#: the variables that pick a region; one exported value cannot serve tenants in several regions
REGION_VARIABLES = ("AWS_DEFAULT_REGION", "AWS_REGION")

#: (stack output, AWS CLI arguments) of the example commands printed and recorded for each tenant
_EXAMPLE_COMMANDS = (
    ("data_bucket_name", "s3 ls s3://{}/ --recursive"),
    ("stream_name", "kinesis describe-stream-summary --stream-name {}"),
    ("model_package_group_name", "sagemaker list-model-packages --model-package-group-name {}"),
)


def tenant_env(region: str) -> dict[str, str]:
    """The region variables for one tenant's resources (the endpoint and credentials are shared)."""
    return dict.fromkeys(REGION_VARIABLES, region)


def example_commands(region: str, outputs: Mapping[str, Any]) -> list[str]:
    """AWS CLI commands that look at a tenant's resources, each with the tenant's ``--region``."""
    return [
        f"aws --region {region} {arguments.format(outputs[output])}"
        for output, arguments in _EXAMPLE_COMMANDS
        if isinstance(outputs.get(output), str)
    ]


@dataclass
class UpSummary:
    endpoint: str
    region: str
    applied: list[TenantApply] = field(default_factory=list)
    lifecycle: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: one-row requests a tenant's endpoint is probed with during a bake (entity keys only for a
    #: model on feature views); the sample dataset's rows otherwise
    probes: dict[str, list[str]] = field(default_factory=dict)
    #: the administrator keys of each tenant whose account is not the emulator's default (the shared
    #: ``env`` signs there, where such a tenant's resources are not)
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)

    def tenant_region(self, tenant: str) -> str:
        return self.regions.get(tenant, self.region)

    def tenant_env(self, tenant: str) -> dict[str, str]:
        """The variables for one tenant's commands: its region, and its account's keys when it has its own."""
        return {**tenant_env(self.tenant_region(tenant)), **self.credentials.get(tenant, {})}

    def to_json(self, state_dir: Path) -> dict[str, Any]:
        return {
            "emulator": {
                "endpoint": self.endpoint,
                "region": self.region,
                "pid": os.getpid(),
                "state_dir": str(state_dir),
                "env": self.env,
            },
            "tenants": {
                a.tenant: {
                    "region": self.tenant_region(a.tenant),
                    "env": self.tenant_env(a.tenant),
                    "commands": example_commands(self.tenant_region(a.tenant), a.outputs),
                    "outputs": dict(a.outputs),
                    "stack": str(a.stack_file),
                    **({"lifecycle": self.lifecycle[a.tenant]} if a.tenant in self.lifecycle else {}),
                    **({"endpoint": self.endpoints[a.tenant]} if a.tenant in self.endpoints else {}),
                }
                for a in self.applied
            },
            "timings_seconds": {k: round(v, 3) for k, v in self.timings.items()},
        }


#: the steps ``up`` takes after applying, in order; each gets the session and may add to the summary
LifecycleStep = Callable[["UpContext", UpSummary], None]
#: what ``up`` does for one tenant as soon as its stacks are applied and its image is pushed, while
#: the next tenant waits for its apply (a tenant's lifecycle need not wait for the others' stacks)
TenantStep = Callable[["UpContext", UpSummary, TenantApply], None]


@dataclass
class UpContext:
    specs: Sequence[TenantSpec]
    out_dir: Path
    state_dir: Path
    server: emulator.EmulatorServer
    report: Callable[[str], None]
    stop_event: threading.Event = field(default_factory=threading.Event)
    runtime: Any = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    #: where ``up.json`` goes; rewritten by :meth:`summary_changed` once ``up`` is ready
    up_file: Path = UP_FILE
    ready: threading.Event = field(default_factory=threading.Event)
    #: held while a background part (a champion follower) changes the summary or it is written
    summary_lock: threading.RLock = field(default_factory=threading.RLock)
    #: the rollout policy of a followed champion, per spec (None: ``tenantml.lifecycle.follow_policy``)
    follow_policy: Callable[[TenantSpec], Any] | None = None
    #: tenant -> the S3 URI of the sample dataset a tenant step dropped into its data bucket
    landed: dict[str, str] = field(default_factory=dict)

    def spec_of(self, tenant: str) -> TenantSpec:
        return next(s for s in self.specs if s.name == tenant)

    def write_summary(self, summary: UpSummary) -> None:
        with self.summary_lock:
            self.up_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.up_file, json.dumps(summary.to_json(self.state_dir), indent=2, default=str))

    def summary_changed(self, summary: UpSummary) -> None:
        """Something shown in ``up.json`` changed after the start (the version served): rewrite it."""
        if self.ready.is_set():
            self.write_summary(summary)

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @functools.cached_property
    def server_session(self) -> emulator.AwsSession:
        """The administrator's session, made once: each step and tenant reuses its clients."""
        return emulator.make_session(self.server.endpoint)


def _push_image(
    spec: TenantSpec, applied: TenantApply, session: emulator.AwsSession, report: Callable[[str], None]
) -> None:
    """Push the tenant's image (a manifest of this checkout) to its ECR repository under its pinned tag."""
    from tenantml.emulator.images import push_local_image

    repository = applied.outputs.get("image_repository_name")
    if not repository:
        return
    ecr = session.for_account(spec.account_id).client("ecr", spec.region)
    digest = push_local_image(ecr, str(repository), spec.image_tag)
    report(f"pushed {applied.tenant}'s image {repository}:{spec.image_tag} ({digest[:19]})")


@contextmanager
def _stop_on_signals(event: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``event`` instead of killing the process mid-shutdown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: event.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def lock_file_of(up_file: Path) -> Path:
    """``up.lock`` beside ``up.json``: held by the running ``up`` for its whole life."""
    return up_file.with_name("up.lock")


def claim_single_instance(up_file: Path = UP_FILE) -> FileLock:
    """Take this directory's ``up`` lock, or fail at once naming the ``up`` that holds it.

    ``up.json`` is written only when everything is ready, so it cannot be the guard: a second
    ``up`` started before then went on and deleted the first one's state files. The lock is
    taken before anything else and held until the ``up`` ends (the kernel drops it if the
    process dies), so any ``up.json`` found once it is taken was left by a dead ``up``.
    """
    lock = FileLock(lock_file_of(up_file))
    if not lock.try_acquire():
        pid = lock.holder()
        running = read_running(up_file) if pid is not None else None
        where = (
            f", emulator {running.endpoint}" if running is not None and running.pid == pid else ", starting"
        )
        raise EmulatorAlreadyRunningError(
            f"tenantml up is already running (pid {pid if pid is not None else 'unknown'}{where}); "
            + (
                f"stop it with Ctrl-C (or `kill {pid}`) before starting another"
                if pid is not None
                else f"stop it before starting another (it holds {lock.path})"
            )
        )
    up_file.unlink(missing_ok=True)
    return lock


def _bootstrap(
    specs: Sequence[TenantSpec],
    out_dir: Path,
    state_dir: Path,
    endpoint: str,
    platform: PlatformSpec,
    stage: Callable[[str], None],
) -> None:
    """Each account's state bucket first, as on AWS, then proof every tenant backend could init."""
    from tenantml.bootstrap import apply_bootstrap, backend_problems, tenant_backends
    from tenantml.synthesis import synth_bootstrap

    results = synth_bootstrap(specs, out_dir, platform)
    if not results:
        return
    stage(f"bootstrapping Terraform state for account(s) {', '.join(r.account_id for r in results)}")
    session = emulator.make_session(endpoint)
    apply_bootstrap(out_dir, results, state_dir, session)
    problems = backend_problems(tenant_backends(out_dir, [s.name for s in specs]), session)
    if problems:
        raise ProblemsError(problems, headline="a tenant's Terraform state backend cannot initialise")


def _own_account_credentials(
    specs: Sequence[TenantSpec], platform: PlatformSpec
) -> dict[str, dict[str, str]]:
    """Each tenant outside the emulator's default account: that account's administrator keys.

    The emulator puts a tenant's resources in its ``account_id`` and routes a request by its access
    key, so commands signed with the shared (default account) keys would not find them.
    """
    from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, admin_credentials

    found = {}
    for spec in specs:
        account = tenant_account(spec, platform) or EMULATOR_ACCOUNT_ID
        if account != EMULATOR_ACCOUNT_ID:
            found[spec.name] = admin_credentials(account)
    return found


def apply_order(specs: Sequence[TenantSpec]) -> list[str]:
    """The tenants in the order ``up`` applies them: the longest search bound first, then by name.

    Each tenant's data lands as soon as it is applied, so the run likely to end last starts first
    (a longest-job-first order) instead of waiting for the tenants applied before it.
    """
    return [s.name for s in sorted(specs, key=lambda s: (-s.model.search_timeout_seconds, s.name))]


def up(
    specs: Sequence[TenantSpec],
    *,
    out_dir: Path,
    port: int | None,
    once: bool,
    report: Callable[[str], None],
    on_apply_progress: Callable[[str, Any], None] | None = None,
    on_ready: Callable[[UpSummary], None] | None = None,
    steps: Sequence[LifecycleStep] = (),
    up_file: Path = UP_FILE,
    state_dir: Path = STATE_DIR,
    on_stage: Callable[[str], None] | None = None,
    on_tenant_applied: Callable[[UpSummary, TenantApply], None] | None = None,
    platform: PlatformSpec | None = None,
    tenant_steps: Sequence[TenantStep] = (),
) -> UpSummary:
    """Run the platform on the emulator; returns the summary after shutdown.

    ``on_stage`` hears of each stage as it starts (starting, synthesizing, applying, each of
    ``steps``), ``on_apply_progress`` of each resource, ``on_tenant_applied`` of each tenant as
    soon as its stacks are applied (before its ``tenant_steps``, which run before the next tenant
    is applied) and ``on_ready`` once ``up.json`` is written. ``steps`` run once every tenant is
    applied.
    """
    stage = on_stage or (lambda _message: None)
    instance = claim_single_instance(up_file)
    try:
        from tenantml.synthesis import synth  # imports the CDK

        started = time.perf_counter()
        stage("starting the AWS emulator")
        # evaluate_alarms: moto never evaluates alarms; drift and errors must reach the alarm Lambda
        # IAM enforced as AWS does, unless TENANTML_EMULATOR_IAM=off (debugging a denial)
        enforce = iam_requested(default=True)
        server = emulator.start(port, on_message=report, evaluate_alarms=True, enforce_iam=enforce)
    except BaseException:
        instance.release()
        raise
    summary = UpSummary(
        endpoint=server.endpoint,
        region=specs[0].region,
        regions={s.name: s.region for s in specs},
        credentials=_own_account_credentials(specs, platform or PlatformSpec()),
    )
    context = UpContext(
        specs=specs, out_dir=out_dir, state_dir=state_dir, server=server, report=report, up_file=up_file
    )
    with _stop_on_signals(context.stop_event):
        try:
            emulator.warm_up(server.endpoint, sorted({s.region for s in specs}))
            # before apply: moto forgets dead-letter and logging settings of functions created
            # without the hook, and a Kinesis mapping's LATEST position is fixed at creation
            from tenantml.emulator.runtime import install, uninstall

            runtime = install(server.endpoint, summary.region)
            context.runtime = runtime
            context.cleanups.append(lambda: uninstall(timeout=10))
            # SageMaker jobs (training and processing, as their role) run for real from the pushed
            # image; ready before the first tenant's data lands, which may be before the last apply
            from tenantml.emulator import jobs

            jobs.install(server.endpoint)
            context.cleanups.append(lambda: jobs.uninstall(timeout=10))
            clock = time.perf_counter()
            stage(f"synthesizing {len(specs)} tenant stack(s)")
            synth(specs, out_dir, platform)
            summary.timings["synth"] = time.perf_counter() - clock
            # a state file from an earlier emulator describes resources that no longer exist
            shutil.rmtree(state_dir, ignore_errors=True)
            clock = time.perf_counter()
            _bootstrap(specs, out_dir, state_dir, server.endpoint, platform or PlatformSpec(), stage)
            summary.timings["bootstrap"] = time.perf_counter() - clock
            clock = time.perf_counter()
            order = apply_order(specs)
            stage(f"applying {', '.join(order)} to the AWS emulator at {server.endpoint}")
            by_name = {s.name: s for s in specs}
            between_applies = 0.0

            def tenant_applied(applied: TenantApply) -> None:
                # an EKS tenant's Kubernetes stack is applied too (its progress is reported), but the
                # lifecycle, the endpoints and up.json are per tenant: they read the tenant stack's outputs
                nonlocal between_applies
                if applied.tenant not in by_name:
                    return
                clock = time.perf_counter()
                summary.applied.append(applied)
                if on_tenant_applied is not None:
                    on_tenant_applied(summary, applied)
                _push_image(by_name[applied.tenant], applied, context.server_session, report)
                for tenant_step in tenant_steps:
                    if not context.stop_event.is_set():
                        tenant_step(context, summary, applied)
                between_applies += time.perf_counter() - clock

            apply_tenants(
                out_dir,
                order,
                state_dir,
                context.server_session,
                on_progress=on_apply_progress,
                on_tenant_applied=tenant_applied,
            )
            summary.timings["apply"] = time.perf_counter() - clock - between_applies
            for step in steps:
                if context.stop_event.is_set():
                    break
                stage(getattr(step, "__name__", "next step").replace("_", " ").strip())
                step(context, summary)
            summary.env = emulator.aws_env(
                server.endpoint, summary.region, credentials=emulator.ambient_credentials(enforce)
            )
            if len(set(summary.regions.values())) > 1:
                # tenants in several regions: one exported region would show only part of the
                # platform, so each tenant's region is given with its commands instead
                for key in REGION_VARIABLES:
                    summary.env.pop(key, None)
            summary.timings["ready"] = time.perf_counter() - started
            context.write_summary(summary)
            context.ready.set()
            if on_ready is not None:
                on_ready(summary)
            if not once:
                # a short timeout, not a bare wait: the kernel may hand SIGTERM to another thread,
                # and Python runs the handler only when the main thread wakes up
                while not context.stop_event.wait(0.2):
                    pass
        finally:
            report("shutting down")
            context.ready.clear()  # a follower stopping must not write up.json back
            for cleanup in reversed(context.cleanups):
                cleanup()
            up_file.unlink(missing_ok=True)
            shutil.rmtree(state_dir, ignore_errors=True)
            server.stop()
            instance.release()
    return summary
