"""gim_faust.log_limit: a condition logs once per interval, then says how many it dropped."""

import logging

from gim_faust.log_limit import RepeatLimit, collector


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_one_condition_becomes_a_line_per_interval_with_its_count() -> None:
    clock, seen, other = Clock(), [], []
    limit = RepeatLimit(interval_s=30, clock=clock)
    logger = logging.getLogger("test.log_limit.flood")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    for target in (seen, other):  # two handlers share one decision per record
        handler = logging.Handler()
        handler.emit = lambda record, target=target: target.append(record.getMessage())
        handler.addFilter(limit)
        logger.addHandler(handler)
    for n in range(1000):  # a client retrying against a broker that is away
        logger.warning("Unable connect to node with id %s: %s", 1, f"attempt {n}")
    logger.error("another condition")
    logger.info("info always passes")
    logger.info("info always passes")
    clock.now += 31
    logger.warning("Unable connect to node with id %s: %s", 1, "attempt 1000")
    assert seen == other
    assert seen == ["Unable connect to node with id 1: attempt 0", "another condition",
                    "info always passes", "info always passes",
                    "Unable connect to node with id 1: attempt 1000 (999 more like this in "
                    "the last 31 s not logged)"]


def test_every_warning_is_counted_also_the_ones_kept_out_of_the_log() -> None:
    clock = Clock()
    limit = RepeatLimit(interval_s=30, clock=clock)
    logger = logging.getLogger("test.log_limit.counted")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = lambda record: None
    handler.addFilter(limit)
    logger.addHandler(handler)
    for _ in range(50):
        logger.warning("broker away")
    logger.error("disk full")
    logger.info("not counted")
    samples = {tuple(s.labels.values()): s.value
               for family in collector(limit).collect() for s in family.samples}
    assert samples == {("test.log_limit.counted", "warning", "true"): 1,
                       ("test.log_limit.counted", "warning", "false"): 49,
                       ("test.log_limit.counted", "error", "true"): 1}
