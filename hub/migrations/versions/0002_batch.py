"""batch issuance: jobs and per-row results

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:40:00.000000

procrastinate's own tables (PostgreSQL only) are not created here: its schema manager applies them
when a hub process first needs the queue (hub.batch.worker.ensure_queue_schema).
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch_jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('input_key', sa.String(length=255), nullable=False),
    sa.Column('input_bytes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('heartbeat_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_batch_jobs_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_jobs')),
    sa.UniqueConstraint('client_id', 'idempotency_key', name='uq_batch_jobs_client_id_idempotency_key')
    )
    with op.batch_alter_table('batch_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_batch_jobs_status_created', ['status', 'created_at'], unique=False)

    op.create_table('batch_rows',
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('line', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('key', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('license_identifier', sa.String(length=96), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('errors', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['batch_jobs.id'], name=op.f('fk_batch_rows_job_id_batch_jobs')),
    sa.PrimaryKeyConstraint('job_id', 'line', name=op.f('pk_batch_rows'))
    )
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.create_index('ix_batch_rows_job_status', ['job_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('batch_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_rows_job_status')

    op.drop_table('batch_rows')
    with op.batch_alter_table('batch_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_jobs_status_created')

    op.drop_table('batch_jobs')
