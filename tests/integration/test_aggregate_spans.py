"""How the aggregates split sessions and states at 15-minute boundaries (``_SPANS`` in
``loaders/aggregate_sql.py``), checked on PostgreSQL against the rule written out in Python:
a row ``[start, end)`` belongs to every interval it overlaps, and a row of no length to the
interval that holds its start; ``ms`` is its time inside, ``started`` whether it starts there."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest
from gim_faust.loaders import aggregate, aggregate_sql

from tests.support import gim_jobs as jobs

B = int(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc).timestamp())  # a 15-minute boundary
MS = 0.001
# (start, end) in seconds from B: the edge cases of the split
ROWS = [(0, 0), (100, 100), (-300, 0), (0, 300), (-MS, MS), (-3 * 86400, 3 * 86400 + 7),
        (-1000.5, 450.25), (899.999, 900), (1800, 1800 + MS), (-901, -900)]
# the pass's intervals: sparse, some beside the rows' edges, some far from any; or starting
# right at the boundary most rows touch (a row of no length there is still the pass's)
KEY_SETS = [sorted({B - 900, B, B + 900, B + 2700, B - 86400, B + 5 * 86400}), [B, B + 900]]


def _expected(keys: Sequence[int]) -> Counter[tuple[int, int, bool]]:
    out: Counter[tuple[int, int, bool]] = Counter()
    for start, end in ROWS:
        s_ms, e_ms = round((B + start) * 1000), round((B + end) * 1000)
        for key in keys:
            k_ms = key * 1000
            if s_ms < k_ms + 900_000 and (e_ms > k_ms or s_ms >= k_ms):
                out[key, max(0, min(e_ms, k_ms + 900_000) - max(s_ms, k_ms)), s_ms >= k_ms] += 1
    return out


@pytest.mark.parametrize("keys", KEY_SETS, ids=["sparse", "from-the-boundary"])
def test_sessions_and_states_split_at_the_boundaries(fresh_db: str, keys: list[int]) -> None:
    jobs.infomart(fresh_db)
    with jobs.connect(fresh_db) as conn:
        for n, (start, end) in enumerate(ROWS):
            began = datetime.fromtimestamp(B, timezone.utc) + timedelta(seconds=start)
            ended = datetime.fromtimestamp(B, timezone.utc) + timedelta(seconds=end)
            for table, kind in (("sm_res_state_fact", ", resource_state_key"),
                                ("sm_res_session_fact", "")):
                ident = "sm_res_state_id" if kind else "sm_res_session_id"
                conn.execute(
                    f"INSERT INTO {table} ({ident}, resource_key, media_type_key{kind}, "
                    "start_ts, end_ts, start_date_time_key, active_flag, version) "
                    f"VALUES (%s, 1, 1{', 1' if kind else ''}, %s, %s, %s, 0, 1)",
                    (f"row-{n}", began, ended, int(began.timestamp()) // 900 * 900))
        params = {"keys": keys, "lo": aggregate._ts(keys[0]), "hi": aggregate._ts(keys[-1] + 900)}
        rows = conn.execute("WITH " + aggregate_sql._SPANS
                            + " SELECT kind, key, ms, started FROM spans", params).fetchall()
    by_kind = {kind: Counter((key, ms, started) for k, key, ms, started in rows if k == kind)
               for kind in ("SESSION", "READY")}
    assert by_kind["SESSION"] == _expected(keys)
    assert by_kind["READY"] == _expected(keys)
    assert len(rows) == 2 * sum(_expected(keys).values())
