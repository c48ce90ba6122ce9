"""Quality as data: published evaluation results and compute per model.

``models.evaluations`` holds a model's published figures (a list of
:class:`~ptmhub.records.Evaluation` dicts: dataset, metric, value, source, ...) and
``models.gflops`` the compute of one forward pass. The ``evaluations`` table holds the same
figures one per row, indexed by (dataset, metric, value), for ``search --min-accuracy`` and
``--sort accuracy``; the store keeps it equal to ``models.evaluations`` in every upsert.

The upgrade fills both for the torchvision records a registry already has (their weights meta is
in ``extra``: ``metrics`` and ``gflops``), so quality shows without a new ``sync torchvision``.
Hugging Face figures come with the next ``resolve`` (from the card's ``model-index``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("models", sa.Column("gflops", sa.Float))
    op.add_column("models", sa.Column("evaluations", JSON))
    op.create_table(
        "evaluations",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(512), sa.ForeignKey("models.id", ondelete="CASCADE", onupdate="CASCADE"),
                  nullable=False),
        sa.Column("dataset", sa.String(160), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_index("ix_evaluations_model_id", "evaluations", ["model_id"])
    op.create_index("ix_evaluations_dataset_metric_value", "evaluations", ["dataset", "metric", "value"])
    _backfill_torchvision()


def _backfill_torchvision() -> None:
    from ptmhub.quality import from_metrics_table

    conn = op.get_bind()
    models = sa.table("models", sa.column("id", sa.String), sa.column("task", sa.String),
                      sa.column("library", sa.String), sa.column("extra", JSON), sa.column("gflops", sa.Float),
                      sa.column("evaluations", JSON))
    table = sa.table("evaluations", sa.column("model_id", sa.String), sa.column("dataset", sa.String),
                     sa.column("metric", sa.String), sa.column("value", sa.Float))
    rows = conn.execute(sa.select(models.c.id, models.c.task, models.c.extra)
                        .where(models.c.library == "torchvision", models.c.extra.is_not(None))).all()
    for model_id, task, extra in rows:
        if isinstance(extra, str):
            extra = json.loads(extra)
        if not isinstance(extra, dict):
            continue
        weights = ".".join(str(extra[k]) for k in ("weights_enum", "default_variant") if extra.get(k))
        source = f"torchvision weights meta ({weights})" if weights else "torchvision weights meta"
        found = from_metrics_table(extra.get("metrics"), source=source, task=task)
        gflops = extra.get("gflops")
        gflops = float(gflops) if isinstance(gflops, (int, float)) and not isinstance(gflops, bool) else None
        if not found and gflops is None:
            continue
        conn.execute(models.update().where(models.c.id == model_id).values(
            gflops=gflops, evaluations=[e.to_dict() for e in found] or None))
        if found:
            conn.execute(table.insert(), [{"model_id": model_id, "dataset": e.dataset, "metric": e.metric,
                                           "value": e.value} for e in found])


def downgrade() -> None:
    op.drop_index("ix_evaluations_dataset_metric_value", table_name="evaluations")
    op.drop_index("ix_evaluations_model_id", table_name="evaluations")
    op.drop_table("evaluations")
    # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy would rebuild the table
    # without its full-text triggers and expression index
    op.drop_column("models", "evaluations")
    op.drop_column("models", "gflops")
