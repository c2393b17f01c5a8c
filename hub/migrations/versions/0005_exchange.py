"""exchange: the catalogue (sources), grants, consents, the shared store of imported records; exchange scopes

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NEW_DEPARTMENT_SCOPES = " sources:read sources:write exchange:query"


def upgrade() -> None:
    op.create_table('sources',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=False),
    sa.Column('subject_key', sa.String(length=16), nullable=False),
    sa.Column('sharing_class', sa.String(length=16), nullable=False),
    sa.Column('update_frequency', sa.String(length=16), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('connector_type', sa.String(length=16), nullable=False),
    sa.Column('connector_config', sa.JSON(), nullable=False),
    sa.Column('health', sa.String(length=16), nullable=False),
    sa.Column('health_detail', sa.String(length=300), nullable=False),
    sa.Column('health_checked_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_sources_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources'))
    )
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sources_department_id'), ['department_id'], unique=False)

    op.create_table('grants',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('requester_id', sa.String(length=32), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('legal_basis', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('expires_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['requester_id'], ['departments.id'], name=op.f('fk_grants_requester_id_departments')),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_grants_source_id_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants'))
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index('ix_grants_requester_source', ['requester_id', 'source_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_grants_source_id'), ['source_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('subject_masked', sa.String(length=32), nullable=False),
    sa.Column('requester_id', sa.String(length=32), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('valid_days', sa.Integer(), nullable=False),
    sa.Column('expires_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', hub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['requester_id'], ['departments.id'], name=op.f('fk_consents_requester_id_departments')),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_consents_source_id_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_requester_id'), ['requester_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_subject_ref'), ['subject_ref'], unique=False)

    op.create_table('idempotent_requests',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'key', 'operation', name=op.f('pk_idempotent_requests'))
    )

    # The shared store of bulk-imported records (归集); its shape is connectors.store.shared_records.
    op.create_table('shared_records',
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source_id', 'subject', name=op.f('pk_shared_records'))
    )

    clients = sa.table('oauth_clients', sa.column('role', sa.String), sa.column('scopes', sa.String))
    op.execute(clients.update().where(clients.c.role == 'department')
               .values(scopes=clients.c.scopes + NEW_DEPARTMENT_SCOPES))
    op.execute(clients.update().where(clients.c.role == 'operator').values(scopes=clients.c.scopes + " sources:read"))


def downgrade() -> None:
    op.drop_table('shared_records')
    op.drop_table('idempotent_requests')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_subject_ref'))
        batch_op.drop_index(batch_op.f('ix_consents_requester_id'))
    op.drop_table('consents')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grants_source_id'))
        batch_op.drop_index('ix_grants_requester_source')
    op.drop_table('grants')
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sources_department_id'))
    op.drop_table('sources')
