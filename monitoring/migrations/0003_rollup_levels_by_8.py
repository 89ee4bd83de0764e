"""Rollup levels 8 times apart instead of 64: block sizes 64, 512, 4,096, 32,768, 262,144.

The old levels 2 (4,096 steps) and 3 (262,144) are renumbered 3 and 5, unchanged; the new
levels 2 (512) and 4 (32,768) are built from the level below them (8 blocks each), never
from the points, so the migration reads about one row in 64 of the series. The SQL is
written out here so that this migration never changes with the code.
"""

from django.db import migrations

_COLUMNS = (
    "(run_id, key, level, block, first_step, first_value, last_step, last_value, "
    "min_value, max_value, count)"
)


def _build(level: int) -> str:
    """Level ``level`` from level ``level - 1``: block numbers 3 bits shorter."""
    return f"""
INSERT INTO monitoring_metricrollup {_COLUMNS}
SELECT run_id, key, {level}, block >> 3,
       min(first_step), (array_agg(first_value ORDER BY first_step))[1],
       max(last_step), (array_agg(last_value ORDER BY last_step DESC))[1],
       min(min_value), max(max_value), sum(count)
FROM monitoring_metricrollup WHERE level = {level - 1} GROUP BY run_id, key, block >> 3
"""


FORWARD = [
    # Coarsest first, so a renumbered row never meets one still to be renumbered.
    "UPDATE monitoring_metricrollup SET level = 5 WHERE level = 3",
    "UPDATE monitoring_metricrollup SET level = 3 WHERE level = 2",
    _build(2),
    _build(4),
]
BACKWARD = [
    "DELETE FROM monitoring_metricrollup WHERE level IN (2, 4)",
    "UPDATE monitoring_metricrollup SET level = 2 WHERE level = 3",
    "UPDATE monitoring_metricrollup SET level = 3 WHERE level = 5",
]


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_metric_rollup")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)]
