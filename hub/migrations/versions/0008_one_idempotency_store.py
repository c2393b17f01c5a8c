"""one idempotency store: licenses' and batches' Idempotency-Keys join idempotent_requests

Revision ID: 0008
Revises: 0007

License keys (idempotency_records) become operation 'license', batch keys (batch_jobs.idempotency_key and
request_hash) operation 'batch'; the two old places are dropped. The downgrade moves them back.
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

RECORDS = sa.table('idempotent_requests', sa.column('client_id'), sa.column('key'), sa.column('operation'),
                   sa.column('request_hash'), sa.column('resource_id'), sa.column('created_at'))
COLUMNS = ['client_id', 'key', 'operation', 'request_hash', 'resource_id', 'created_at']


def upgrade() -> None:
    licenses = sa.table('idempotency_records', sa.column('client_id'), sa.column('key'), sa.column('request_hash'),
                        sa.column('license_id'), sa.column('created_at'))
    jobs = sa.table('batch_jobs', sa.column('id'), sa.column('client_id'), sa.column('idempotency_key'),
                    sa.column('request_hash'), sa.column('created_at'))
    op.execute(RECORDS.insert().from_select(COLUMNS, sa.select(
        licenses.c.client_id, licenses.c.key, sa.literal('license'), licenses.c.request_hash, licenses.c.license_id,
        licenses.c.created_at)))
    op.execute(RECORDS.insert().from_select(COLUMNS, sa.select(
        jobs.c.client_id, jobs.c.idempotency_key, sa.literal('batch'), jobs.c.request_hash, jobs.c.id,
        jobs.c.created_at).where(jobs.c.idempotency_key.is_not(None))))
    op.drop_table('idempotency_records')
    with op.batch_alter_table('batch_jobs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_batch_jobs_client_id_idempotency_key', type_='unique')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('request_hash')


def downgrade() -> None:
    with op.batch_alter_table('batch_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('request_hash', sa.String(length=64), nullable=False, server_default=''))
    jobs = sa.table('batch_jobs', sa.column('id'), sa.column('idempotency_key'), sa.column('request_hash'))
    batch_keys = sa.select(RECORDS.c.key).where(RECORDS.c.operation == 'batch', RECORDS.c.resource_id == jobs.c.id)
    batch_hashes = sa.select(RECORDS.c.request_hash).where(RECORDS.c.operation == 'batch',
                                                            RECORDS.c.resource_id == jobs.c.id)
    op.execute(jobs.update().values(idempotency_key=batch_keys.scalar_subquery(),
                                    request_hash=sa.func.coalesce(batch_hashes.scalar_subquery(), '')))
    with op.batch_alter_table('batch_jobs', schema=None) as batch_op:
        batch_op.alter_column('request_hash', server_default=None)
        batch_op.create_unique_constraint('uq_batch_jobs_client_id_idempotency_key', ['client_id', 'idempotency_key'])
    op.create_table('idempotency_records',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('license_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['license_id'], ['licenses.id'], name=op.f('fk_idempotency_records_license_id_licenses')),
    sa.PrimaryKeyConstraint('client_id', 'key', name=op.f('pk_idempotency_records'))
    )
    licenses = sa.table('idempotency_records', sa.column('client_id'), sa.column('key'), sa.column('request_hash'),
                        sa.column('license_id'), sa.column('created_at'))
    op.execute(licenses.insert().from_select(['client_id', 'key', 'request_hash', 'license_id', 'created_at'], sa.select(
        RECORDS.c.client_id, RECORDS.c.key, RECORDS.c.request_hash, RECORDS.c.resource_id, RECORDS.c.created_at)
        .where(RECORDS.c.operation == 'license')))
    op.execute(RECORDS.delete().where(RECORDS.c.operation.in_(['license', 'batch'])))
