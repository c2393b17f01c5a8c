"""Import every table module so the metadata is complete (migrations, tests)."""


def import_all_tables() -> None:
    import hub.audit.tables  # noqa: F401
    import hub.auth.tables  # noqa: F401
    import hub.batch.tables  # noqa: F401
    import hub.catalogue.tables  # noqa: F401
    import hub.core.idempotency  # noqa: F401
    import hub.departments.tables  # noqa: F401
    import hub.egress.tables  # noqa: F401
    import hub.exchange.tables  # noqa: F401
    import hub.licenses.tables  # noqa: F401
    import hub.status.tables  # noqa: F401
    import hub.trust.tables  # noqa: F401
