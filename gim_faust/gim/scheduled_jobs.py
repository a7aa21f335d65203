"""The jobs the loader runs in the background, beside loading: the maintenance job on its
schedule, and the reading of when maintenance and the export last completed. Each is a loop
that :mod:`gim_faust.gim.worker` starts as a task and cancels when it stops.

The worker runs the maintenance job (:mod:`gim_faust.loaders.maintenance`) on a schedule:
``GIM_MAINTENANCE_INTERVAL`` seconds after the last run anywhere (``ctl_audit_log`` records
each run; a freshly migrated schema counts as one, since the migration creates two weeks of
partitions), on its own connection and a worker thread, beside loading. Its partition
operations are short transactions with a lock timeout, so a batch waits seconds at most. Of
several workers that come due together one runs it (the job lock, then the last-run check
under it); a failure never stops loading, it is logged, counted and tried again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from gim_faust.errors import FatalError, GimError
from gim_faust.loaders import aggregate, jobs, maintenance
from gim_faust.loaders.jobs import InfoMart, JobBusy
from gim_faust.settings import Settings

if TYPE_CHECKING:
    from gim_faust.gim.worker import Loader

log = logging.getLogger(__name__)

# A scheduled maintenance run that found the job lock taken (an export is running) or failed
# is tried again this much later: exports take minutes, and a database that failed a run is
# usually back within minutes too.
MAINTENANCE_RETRY_S = 300.0
# How often the worker reads when maintenance and the export last completed (for the alerts'
# gim_job_last_completed_timestamp_seconds); they run hours apart, so minutes are precise enough.
JOB_STATUS_EVERY_S = 300.0
# The aggregator's pause between passes, at least (GIM_AGGREGATE_DELAY / 2 if shorter).
AGGREGATE_EVERY_S = 1.0


def info_mart(settings: Settings) -> InfoMart:
    """What the database jobs work on, from the service's settings."""
    return InfoMart(settings.tenant, settings.infomart_db_url, settings.object_store,
                    settings.retention_days, settings.partitions_ahead_days,
                    settings.subhr_retention_days)


async def maintenance_loop(loader: Loader) -> None:
    """Runs maintenance whenever it is due, until the worker stops (module docstring)."""
    settings = loader.settings
    interval = settings.maintenance_interval
    while not loader.stopping.is_set():
        try:
            wait = await asyncio.to_thread(maintenance.seconds_until_due,
                                           settings.infomart_db_url, interval)
            if wait <= 0:
                report = await asyncio.to_thread(
                    maintenance.maintain, info_mart(settings), loader.maintenance_stop.is_set,
                    interval)
                if report is not None:
                    loader.maintenance_metrics.run_done(report, time.time())
                    log.info("%s", report.summary())
                continue   # due again only `interval` after this run (or another one)
        except JobBusy as exc:
            loader.maintenance_metrics.runs.labels("busy").inc()
            log.info("maintenance is due, but %s; trying again in %.0f s", exc,
                     MAINTENANCE_RETRY_S)
            wait = MAINTENANCE_RETRY_S
        except FatalError as exc:
            # Typically an account without the rights maintenance needs: waiting the
            # whole interval keeps the log readable while someone fixes it.
            loader.maintenance_metrics.runs.labels("failed").inc()
            log.error("maintenance cannot run: %s (loading goes on; give the loader's "
                      "account the rights, or set GIM_MAINTENANCE_INTERVAL=0 and run "
                      "`gim-faust gim maintenance` with an account that has them)", exc)
            wait = interval
        except GimError as exc:
            loader.maintenance_metrics.runs.labels("failed").inc()
            log.warning("maintenance failed, trying again in %.0f s: %s",
                        MAINTENANCE_RETRY_S, exc)
            wait = MAINTENANCE_RETRY_S
        except Exception:  # noqa: BLE001 - a bug in maintenance must not stop loading
            loader.maintenance_metrics.runs.labels("failed").inc()
            log.exception("maintenance failed; trying again in %.0f s", MAINTENANCE_RETRY_S)
            wait = MAINTENANCE_RETRY_S
        await loader.sleep(wait)


async def aggregate_loop(loader: Loader) -> None:
    """Recomputes the aggregates of the intervals loaded batches touched, on its own
    connection and a worker thread, pausing between passes (:func:`aggregate_pause`)."""
    settings = loader.settings
    rules = aggregate.Rules.of(settings)
    while not loader.stopping.is_set():
        started = time.monotonic()
        try:
            done = await asyncio.to_thread(aggregate.run_pending, settings.infomart_db_url,
                                           rules)
            if done:
                loader.metrics.aggregated.inc(done)
                loader.metrics.aggregate_seconds.observe(time.monotonic() - started)
        except GimError as exc:
            log.warning("recomputing the aggregates failed, trying again: %s", exc)
        except Exception:  # noqa: BLE001 - a bug in aggregation must not stop loading
            log.exception("recomputing the aggregates failed, trying again")
        await loader.sleep(aggregate_pause(time.monotonic() - started,
                                           settings.aggregate_delay))


def aggregate_pause(took: float, delay: float) -> float:
    """The pause after a pass that took ``took`` seconds: a second when passes are short (the
    aggregates then lag the facts by about that); after a long pass (a backlog) as long as the
    pass, so that aggregation takes at most about half of a core the loading shares; but never
    so long that a fact loaded as a pass began could wait past ``delay`` for the next pass to
    end (this pass, the pause, a next pass as long). docs/aggregates.md, "Cost"."""
    return max(min(AGGREGATE_EVERY_S, delay / 2), min(took, delay - 2 * took))


async def job_status_loop(loader: Loader) -> None:
    """Serves when maintenance and the export last completed (``ctl_audit_log``), so an
    alert sees a CronJob's runs too, and a restarted worker does not look overdue."""
    while not loader.stopping.is_set():
        try:
            done = await asyncio.to_thread(jobs.read_last_completed,
                                           loader.settings.infomart_db_url)
            for task, at in done.items():
                if at is not None:
                    loader.metrics.job_completed.labels(task).set(at.timestamp())
        except GimError as exc:
            log.warning("could not read when maintenance and export last ran: %s", exc)
        await loader.sleep(JOB_STATUS_EVERY_S)
