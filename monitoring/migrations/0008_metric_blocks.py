# Metric points move into blocks: one row per run, key and run of up to ~78 consecutive points
# (parallel arrays), instead of one row per point (bench/storage.py: 215 bytes a point before).
# The points table becomes a view over the blocks with the same name and columns, so readers
# of single points keep working. Reversible: the reverse recreates the table as 0005 left it
# (Django's own DDL, from the migration state) and unnests the blocks back into it.

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

# monitoring.models.block_points(key), in SQL (kept here: a migration must not follow the code).
BLOCK_POINTS_SQL = "GREATEST(1, (2032 - 120 - ((octet_length(key) + 11) / 8) * 8) / 24)"

POINTS_TO_BLOCKS = f"""
INSERT INTO monitoring_metricblock
    (run_id, key, first_step, last_step, steps, vals, wall_times)
SELECT run_id, key, min(step), max(step), array_agg(step ORDER BY step),
       array_agg(value ORDER BY step), array_agg(wall_time ORDER BY step)
FROM (
    SELECT run_id, key, step, value, wall_time,
           (row_number() OVER (PARTITION BY run_id, key ORDER BY step) - 1)
           / {BLOCK_POINTS_SQL} AS chunk
    FROM monitoring_metricpoint
) AS numbered
GROUP BY run_id, key, chunk
"""

BLOCKS_TO_POINTS = """
INSERT INTO monitoring_metricpoint (run_id, key, step, value, wall_time)
SELECT b.run_id, b.key, p.step, p.value, p.wall_time
FROM monitoring_metricblock b
CROSS JOIN LATERAL unnest(b.steps, b.vals, b.wall_times) AS p(step, value, wall_time)
"""

# A live run appends to the last block of each key about once a second (an UPDATE that leaves
# the old row dead) and folds rollups the same way: dead rows to reclaim at a rate set by the
# runs in training, not by the size of the tables. The default (vacuum once 20% of the rows
# are dead) would let a large table fill with them; vacuum every naptime (a minute) once a
# few hundred are dead instead (bench/storage.py's live figure, docs/benchmarks.md).
AUTOVACUUM = """
ALTER TABLE monitoring_metricblock
    SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500);
ALTER TABLE monitoring_metricrollup
    SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500);
"""
AUTOVACUUM_RESET = """
ALTER TABLE monitoring_metricrollup
    RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
"""

# A filter on run_id and key reaches the blocks' primary key (run_id, key, first_step).
CREATE_VIEW = """
CREATE VIEW monitoring_metricpoint AS
SELECT b.run_id, b.key, p.step, p.value, p.wall_time
FROM monitoring_metricblock b
CROSS JOIN LATERAL unnest(b.steps, b.vals, b.wall_times) AS p(step, value, wall_time)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0007_event_alert"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricBlock",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "run",
                        "key",
                        "first_step",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="metric_blocks",
                        to="runs.run",
                    ),
                ),
                ("first_step", models.BigIntegerField()),
                ("last_step", models.BigIntegerField()),
                ("key", models.CharField(max_length=100)),
                (
                    "steps",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), size=None
                    ),
                ),
                (
                    "vals",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.FloatField(), size=None
                    ),
                ),
                (
                    "wall_times",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.DateTimeField(), size=None
                    ),
                ),
            ],
        ),
        migrations.RunSQL(POINTS_TO_BLOCKS, reverse_sql=BLOCKS_TO_POINTS),
        migrations.RunSQL(AUTOVACUUM, reverse_sql=AUTOVACUUM_RESET),
        # Drops the table (its reverse recreates it, with 0001-0005's names and constraints).
        migrations.DeleteModel(name="MetricPoint"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(CREATE_VIEW, reverse_sql="DROP VIEW monitoring_metricpoint")
            ],
            state_operations=[
                migrations.CreateModel(
                    name="MetricPoint",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "run",
                                "key",
                                "step",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        (
                            "run",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="metric_points",
                                to="runs.run",
                            ),
                        ),
                        ("key", models.CharField(max_length=100)),
                        ("step", models.BigIntegerField()),
                        ("value", models.FloatField()),
                        ("wall_time", models.DateTimeField()),
                    ],
                    options={"db_table": "monitoring_metricpoint", "managed": False},
                ),
            ],
        ),
    ]
