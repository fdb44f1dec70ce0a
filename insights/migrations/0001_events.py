"""The event store and the cursor table.

On PostgreSQL ``insights_event`` is partitioned by day on ``occurred_at`` (see insights.models): the
table is written here by hand, with the key ``(id, occurred_at)`` and ``UNIQUE (event_id,
occurred_at)``, a default partition and the partitions of today and the next 7 days (beat keeps
creating them ahead: ``insights.tasks.ensure_partitions``). Django's state is the plain model, created
as an ordinary table on other databases (SQLite, the embedded mode).
"""

import datetime
import uuid

import django.utils.timezone
from django.db import migrations, models


PARTITIONED_TABLE = """
CREATE TABLE insights_event (
    id bigserial NOT NULL,
    event_id uuid NOT NULL,
    name varchar(64) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone NOT NULL,
    visitor_id varchar(36) NOT NULL,
    user_id bigint NULL,
    session_id uuid NULL,
    channel varchar(8) NOT NULL,
    device varchar(8) NOT NULL,
    is_bot boolean NOT NULL,
    properties jsonb NOT NULL,
    CONSTRAINT insights_event_pkey PRIMARY KEY (id, occurred_at),
    CONSTRAINT insights_event_unique_event UNIQUE (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX insights_event_occurred ON insights_event (occurred_at);
CREATE INDEX insights_event_visitor ON insights_event (visitor_id, occurred_at);
CREATE INDEX insights_event_name ON insights_event (name, occurred_at);
CREATE TABLE insights_event_default PARTITION OF insights_event DEFAULT;
"""


def create_event_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.create_model(apps.get_model("insights", "Event"))
        return
    schema_editor.execute(PARTITIONED_TABLE)
    today = datetime.datetime.now(datetime.UTC).date()
    for offset in range(8):
        day = today + datetime.timedelta(days=offset)
        schema_editor.execute(
            f"CREATE TABLE IF NOT EXISTS insights_event_p{day:%Y%m%d} PARTITION OF insights_event "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') "
            f"TO ('{(day + datetime.timedelta(days=1)).isoformat()} 00:00:00+00')"
        )


def drop_event_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.delete_model(apps.get_model("insights", "Event"))
        return
    schema_editor.execute("DROP TABLE IF EXISTS insights_event CASCADE")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Cursor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=40, unique=True)),
                ('last_id', models.BigIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'cursor',
                'verbose_name_plural': 'cursors',
            },
        ),
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='Event',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('event_id', models.UUIDField(default=uuid.uuid4, editable=False, verbose_name='event id')),
                ('name', models.CharField(max_length=64, verbose_name='event')),
                ('occurred_at', models.DateTimeField(verbose_name='occurred')),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='received')),
                ('visitor_id', models.CharField(blank=True, default='', max_length=36, verbose_name='visitor id')),
                ('user_id', models.BigIntegerField(blank=True, null=True, verbose_name='user id')),
                ('session_id', models.UUIDField(blank=True, null=True, verbose_name='session id')),
                ('channel', models.CharField(choices=[('web', 'Web'), ('api', 'API')], default='web', max_length=8, verbose_name='channel')),
                ('device', models.CharField(choices=[('desktop', 'Desktop'), ('mobile', 'Mobile'), ('tablet', 'Tablet'), ('other', 'Other')], default='other', max_length=8, verbose_name='device')),
                ('is_bot', models.BooleanField(default=False, verbose_name='bot')),
                ('properties', models.JSONField(blank=True, default=dict, verbose_name='properties')),
            ],
            options={
                'verbose_name': 'event',
                'verbose_name_plural': 'events',
                'ordering': ['-occurred_at'],
                'indexes': [models.Index(fields=['occurred_at'], name='insights_event_occurred'), models.Index(fields=['visitor_id', 'occurred_at'], name='insights_event_visitor'), models.Index(fields=['name', 'occurred_at'], name='insights_event_name')],
                'constraints': [models.UniqueConstraint(fields=('event_id', 'occurred_at'), name='insights_event_unique_event')],
            },
        ),]),
        migrations.RunPython(create_event_table, drop_event_table, elidable=False),
    ]
