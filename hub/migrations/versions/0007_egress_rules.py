"""egress rules: the targets the operator approved for each department's connectors

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('egress_rules',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=1100), nullable=False),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_egress_rules_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_egress_rules')),
    sa.UniqueConstraint('department_id', 'target', name='uq_egress_rules_department_target')
    )
    with op.batch_alter_table('egress_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_egress_rules_department_id'), ['department_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('egress_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_egress_rules_department_id'))
    op.drop_table('egress_rules')
