"""SQL connector templates, parsed with sqlglot and checked: one read-only SELECT, pure functions, listed fields.

A template is what a department tells the hub to run against its own database. It must be exactly one SELECT
(a WITH whose parts are plain SELECTs is fine), call only functions from an allowlist of pure ones, read no system
catalogue, bind the subject as `:subject` and nothing else, and name every output column after one of the source's
declared fields. Anything else is refused with a message naming what was refused.

Parsing is a check, not a sandbox: the connector still opens databases read-only with a statement timeout, refuses
powerful PostgreSQL accounts, and asks SQLite to deny ATTACH and PRAGMA at run time (connectors/sql.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}  # SQLAlchemy dialect name -> sqlglot dialect
SUBJECT = "subject"

# Pure functions, by sqlglot's name for them (what it parses `substr`, `ifnull`, `now()`, `x::text`, `a ~ 'b'` ...
# into) or, for functions sqlglot does not model, by their own name. Nothing that reads files, other sessions,
# settings or the server's state; nothing that writes, sleeps, signals or opens a connection.
ALLOWED_FUNCTIONS = frozenset({
    # conditional, logic, casts, subquery tests
    "and", "or", "case", "if", "coalesce", "nullif", "greatest", "least", "exists", "cast", "try_cast", "array",
    # string
    "upper", "lower", "length", "octet_length", "substring", "trim", "replace", "translate", "reverse", "concat",
    "concat_ws", "str_position", "pad", "left", "right", "initcap", "split_part", "regexp_replace", "regexp_like",
    "starts_with", "chr", "ascii", "unicode", "hex", "md5", "typeof", "format", "printf", "quote",
    # numeric
    "abs", "round", "floor", "ceil", "sign", "trunc", "pow", "sqrt", "ln", "log", "exp",
    # date and time
    "current_date", "current_time", "current_timestamp", "localtimestamp", "date", "time", "datetime", "julianday",
    "extract", "timestamp_trunc", "time_to_str", "str_to_date", "ts_or_ds_to_timestamp", "unix_to_time",
    "to_number", "justify_days", "age", "make_date",
    # aggregate and window
    "count", "sum", "avg", "min", "max", "total", "group_concat", "array_agg", "logical_and", "logical_or",
    "row_number", "rank", "dense_rank",
    # JSON, and PostgreSQL's generate_series
    "json_extract", "json_extract_scalar", "exploding_generate_series",
})

# Statements and clauses that are not a read: refused wherever they appear (PostgreSQL allows DML inside a WITH).
_STATEMENTS = (exp.DML, exp.DDL, exp.Command, exp.Attach, exp.Detach, exp.Pragma, exp.Set, exp.Transaction,
               exp.Commit, exp.Rollback, exp.Use, exp.Describe, exp.Show, exp.Kill, exp.Grant, exp.Revoke,
               exp.LoadData, exp.Analyze, exp.Refresh, exp.Cache, exp.Uncache, exp.Summarize, exp.Export,
               exp.Declare)
_CATALOGUE_SCHEMAS = ("pg_", "information_schema")
_CATALOGUE_TABLES = ("pg_", "sqlite_", "pragma_")
_SUBJECT_LIKE = re.compile(r"[0-9A-Z]{15,18}")  # a resident id or a credit code written into the template


class TemplateRefused(ValueError):
    """A SQL template the hub will not run; the message names what was refused."""


def check_template(query: str, *, dialect: str, fields: Collection[str] | None = None) -> tuple[str, ...]:
    """Refuse anything but one read-only SELECT binding :subject; return its output column names.

    `dialect` is "sqlite" or "postgresql"; with `fields`, every output column must be one of them.
    """
    tree = _parse_one(query, DIALECTS[dialect])
    for node in tree.walk():
        _check_node(node)
    _check_binds(tree)
    return _check_outputs(tree, dialect, fields)


def _parse_one(query: str, dialect: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" (line {first['line']}, column {first['col']}, near {first['highlight']!r})" if first else ""
        raise TemplateRefused(f"is not valid SQL{where}") from None
    except SqlglotError as exc:
        raise TemplateRefused(f"is not valid SQL ({exc})") from None
    if len(statements) != 1:
        raise TemplateRefused(f"must be exactly one statement (found {len(statements)})")
    tree = statements[0]
    if not _plain_select(tree):
        raise TemplateRefused(f"must be a SELECT, not {_statement_name(tree)}")
    return tree


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):  # what sqlglot could not parse further: VACUUM, SET ROLE, EXPLAIN ...
        return f"{node.name.upper()} ...".strip()
    return node.key.upper()


def _check_node(node: exp.Expression) -> None:
    if isinstance(node, _STATEMENTS):
        raise TemplateRefused(f"{_statement_name(node)} is not allowed: the template may only read")
    if isinstance(node, exp.CTE) and not _plain_select(node.this):
        raise TemplateRefused(f"WITH {node.alias_or_name}: {_statement_name(node.this)} is not allowed, every part "
                              "of a WITH must be a plain SELECT")
    if isinstance(node, exp.Select):
        if node.args.get("into"):
            raise TemplateRefused("SELECT ... INTO is not allowed: the template may only read")
        if node.args.get("locks"):
            raise TemplateRefused("locking clauses (FOR UPDATE, FOR SHARE ...) are not allowed")
    if isinstance(node, exp.Func):
        _check_function(node)
    if isinstance(node, exp.Table):
        _check_table(node)
    if isinstance(node, exp.Literal) and node.is_string and _looks_like_subject(node.this):
        raise TemplateRefused(f"the literal {node.this!r} looks like a subject: bind it as :subject")
    if isinstance(node, exp.Literal) and not node.is_string and sum(c.isdigit() for c in node.this) >= 15:
        raise TemplateRefused(f"the number {node.this} looks like a subject: bind it as :subject")
    if node.comments:
        raise TemplateRefused("comments are not allowed in a template")


def _plain_select(node: exp.Expression) -> bool:
    if isinstance(node, exp.SetOperation):
        return _plain_select(node.this) and _plain_select(node.expression)
    if isinstance(node, exp.Subquery):
        return _plain_select(node.this)
    return isinstance(node, exp.Select)


def _check_function(node: exp.Func) -> None:
    name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
    if name not in ALLOWED_FUNCTIONS:
        written = node.name if isinstance(node, exp.Anonymous) else node.sql().split("(")[0]
        raise TemplateRefused(f"function {written.lower()} is not allowed (only pure string, number, date, "
                              "conditional and aggregate functions are)")
    if isinstance(node.parent, exp.Dot):
        raise TemplateRefused(f"schema-qualified function calls ({node.parent.sql()}) are not allowed")


def _check_table(node: exp.Table) -> None:
    schema, table = node.db.lower(), node.name.lower()
    if schema.startswith(_CATALOGUE_SCHEMAS) or table.startswith(_CATALOGUE_TABLES):
        raise TemplateRefused(f"system catalogue {node.sql()} is not allowed: read the source's own tables")


def _looks_like_subject(text: str) -> bool:
    return bool(_SUBJECT_LIKE.fullmatch(text.upper())) and sum(c.isdigit() for c in text) >= 8


def _check_binds(tree: exp.Expression) -> None:
    names = []
    for node in tree.find_all(exp.Placeholder, exp.Parameter):
        name = node.this if isinstance(node, exp.Placeholder) and isinstance(node.this, str) else None
        if name != SUBJECT:
            raise TemplateRefused(f"the bind {_bind_text(node)} is not allowed: bind only :subject")
        names.append(name)
    if not names:
        raise TemplateRefused("must bind the subject as :subject (e.g. WHERE resident_id = :subject)")


def _bind_text(node: exp.Expression) -> str:
    if isinstance(node, exp.Parameter):
        return f"${node.this.sql()}"
    if isinstance(node.this, str):
        return f":{node.this}"
    return f"%({node.this.name})s" if node.this is not None else "?"


def _check_outputs(tree: exp.Expression, dialect: str, fields: Collection[str] | None) -> tuple[str, ...]:
    names = []
    for projection in tree.selects:
        if projection.is_star:
            raise TemplateRefused(f"{projection.sql()} is not allowed: name each output column")
        name = _output_name(projection, dialect)
        if name is None:
            raise TemplateRefused(f"the output column {projection.sql()} has no name: add AS <field>")
        if fields is not None and name not in fields:
            raise TemplateRefused(f"the output column {name} is not a declared field of the source "
                                  f"(declared: {', '.join(fields) or 'none'})")
        names.append(name)
    return tuple(names)


def _output_name(projection: exp.Expression, dialect: str) -> str | None:
    """The column name the database will return: PostgreSQL folds unquoted names to lower case, SQLite does not."""
    if isinstance(projection, exp.Alias):
        identifier = projection.args.get("alias")
    elif isinstance(projection, exp.Column):
        identifier = projection.this
    else:
        return None
    if not isinstance(identifier, exp.Identifier):
        return None
    return identifier.this if identifier.quoted or dialect == "sqlite" else identifier.this.lower()
