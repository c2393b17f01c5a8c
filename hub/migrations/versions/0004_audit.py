"""audit: the hash-chained log entries, the Merkle tree's complete subtrees, signed tree heads

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import hub.core.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', hub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('prev_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('chain_hash', sa.LargeBinary(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_seq', ['seq'], unique=True)
        batch_op.create_index('ix_audit_entries_pending', ['created_at', 'id'], unique=False,
                              postgresql_where=sa.text('seq IS NULL'), sqlite_where=sa.text('seq IS NULL'))
        batch_op.create_index('ix_audit_entries_subject', ['subject_ref', 'kind', 'seq'], unique=False)

    op.create_table('audit_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_audit_nodes'))
    )
    op.create_table('audit_tree_heads',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tree_size', name=op.f('pk_audit_tree_heads'))
    )


def downgrade() -> None:
    op.drop_table('audit_tree_heads')
    op.drop_table('audit_nodes')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_subject')
        batch_op.drop_index('ix_audit_entries_pending')
        batch_op.drop_index('ix_audit_entries_seq')
    op.drop_table('audit_entries')
