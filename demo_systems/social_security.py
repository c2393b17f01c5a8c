"""示例市人力资源和社会保障局 social-security database (demo), read by the hub's SQL connector.

Run: `python -m demo_systems.social_security var/sqlite-sources/social_security.db` (a path means a SQLite file;
a URL such as `postgresql+psycopg://...` works too). Building replaces the two tables each time.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from demo_systems.population import DEFAULT_SEED, Company, Person, companies, demo_person, people

ACTIVE, SUSPENDED, ENDED = "参保缴费", "暂停缴费", "终止参保"
# The day the wage-arrears check ran; the checked period is this year up to the end of the previous month,
# as on hub/demo/data.py's 农民工工资无拖欠证明 licenses (2026-01-01 to 2026-10-31).
AS_OF = date(2026, 11, 20)
# companies()[5], the first generated enterprise, owes wages; the hub's demo companies 0-2 must not.
ARREARS_COMPANY = 5
FLEXIBLE_SHARE = 0.2  # active contributors without an employer (灵活就业人员)
FLEXIBLE = "灵活就业人员"
_SCHEME_START = date(1993, 1, 1)  # earliest first contribution on record
_DEMO_INDEX = {demo_person(i).resident_id: i for i in range(12)}

metadata = sa.MetaData()
insured_persons = sa.Table(
    "insured_persons", metadata,
    sa.Column("resident_id", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("insured_status", sa.String(8), nullable=False),
    sa.Column("employer_code", sa.String(18)),
    sa.Column("employer_name", sa.String(100)),
    sa.Column("first_insured_on", sa.Date, nullable=False),
    sa.Column("months_paid", sa.Integer, nullable=False),
    sa.Column("last_paid_month", sa.String(7), nullable=False),  # YYYY-MM
    sa.Column("monthly_base", sa.Numeric(10, 2), nullable=False),
    sa.CheckConstraint(f"insured_status IN ('{ACTIVE}', '{SUSPENDED}', '{ENDED}')", name="ck_insured_status"),
)
employers = sa.Table(
    "employers", metadata,
    sa.Column("credit_code", sa.String(18), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("insured_employees", sa.Integer, nullable=False),
    sa.Column("wage_arrears", sa.Integer, nullable=False),  # 0/1: plain integers read the same on every database
    sa.Column("arrears_checked_on", sa.Date, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.CheckConstraint("wage_arrears IN (0, 1)", name="ck_wage_arrears"),
)


def database_url(url_or_path: str | Path) -> str:
    """Return a SQLAlchemy URL: a URL as given, a path as a SQLite file URL (creating its folder)."""
    text = str(url_or_path)
    if "://" in text:
        return text
    Path(text).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{text}"


def build_database(url_or_path: str | Path, *, people_n: int = 20_000, seed: int = DEFAULT_SEED,
                   as_of: date = AS_OF) -> str:
    """Create or replace the insured_persons and employers tables, fill them, and return the database URL."""
    url = database_url(url_or_path)
    period_end = as_of.replace(day=1) - timedelta(days=1)
    firms = companies(seed=seed)
    persons, hired = insured_rows(people(people_n, seed=seed), firms, seed=seed, period_end=period_end)
    firm_rows = [{"credit_code": f.credit_code, "name": f.name, "insured_employees": hired[f.credit_code],
                  "wage_arrears": int(i == ARREARS_COMPANY), "arrears_checked_on": as_of,
                  "period_start": period_end.replace(month=1, day=1), "period_end": period_end}
                 for i, f in enumerate(firms)]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            conn.execute(insured_persons.insert(), persons)
            conn.execute(employers.insert(), firm_rows)
    finally:
        engine.dispose()
    return url


def insured_rows(population, firms: list[Company], *, seed: int, period_end: date) -> tuple[list[dict], Counter]:
    """Return insured_persons rows for most adults of `population`, and active insured counts per employer."""
    rng = random.Random(f"social-security-{seed}")
    jobs = _Jobs(firms, rng)
    rows = []
    for person in population:
        demo = _DEMO_INDEX.get(person.resident_id)
        if demo is None and rng.random() < 0.08:  # insured in another city, or not at all
            continue
        row = _insured(person, rng, period_end, demo=demo is not None)
        if row is None:
            continue
        if row["insured_status"] == ACTIVE:
            # Demo citizen i works for demo enterprise i % 5.
            firm = jobs.take(None if demo is None else firms[demo % 5])
            row["employer_code"], row["employer_name"] = (firm.credit_code, firm.name) if firm else (None, FLEXIBLE)
        rows.append(row)
    return rows, jobs.hired


class _Jobs:
    """Hands out places at enterprises until each has as many insured employees as it declares."""

    def __init__(self, firms: list[Company], rng: random.Random) -> None:
        self.rng = rng
        self.left = {f.credit_code: f.employees for f in firms}
        self.open = list(firms)
        self.hired: Counter = Counter()

    def take(self, firm: Company | None = None) -> Company | None:
        """Hire into `firm`, or into a random enterprise with places left; None means self-employed."""
        if firm is None:
            if not self.open or self.rng.random() < FLEXIBLE_SHARE:
                return None
            firm = self.open[self.rng.randrange(len(self.open))]
        self.hired[firm.credit_code] += 1
        self.left[firm.credit_code] -= 1
        if self.left[firm.credit_code] <= 0 and firm in self.open:
            self.open.remove(firm)
        return firm


def _insured(person: Person, rng: random.Random, period_end: date, *, demo: bool) -> dict | None:
    """Draw one contribution record, or None for someone too young or retired before the scheme."""
    birth = person.birth_date
    retire_age = 60 if person.gender == "男" else 55
    age_months = _month(period_end) - _month(birth)
    if age_months < 16 * 12:
        return None
    earliest = max(_month(birth) + 18 * 12 + rng.randrange(0, 10 * 12), _month(_SCHEME_START))
    start = min(earliest, _month(period_end) - rng.randrange(1, 13))
    if demo:
        status, last = ACTIVE, _month(period_end)
    elif age_months >= retire_age * 12:
        status, last = ENDED, _month(birth) + retire_age * 12
    else:
        status = rng.choices((ACTIVE, SUSPENDED, ENDED), weights=(85, 10, 5))[0]
        last = {ACTIVE: 0, SUSPENDED: rng.randint(2, 24), ENDED: rng.randint(3, 120)}[status]
        last = _month(period_end) - last
    if last < start or start < _month(birth) + 16 * 12:
        return None
    span = last - start + 1
    return {"resident_id": person.resident_id, "name": person.name, "insured_status": status,
            "employer_code": None, "employer_name": None,
            "first_insured_on": date(start // 12, start % 12 + 1, rng.randint(1, 28)),
            "months_paid": span - rng.randint(0, span // 10), "last_paid_month": f"{last // 12:04d}-{last % 12 + 1:02d}",
            "monthly_base": Decimal(rng.randrange(4_600, 28_000, 50)).quantize(Decimal("0.01"))}


def _month(day: date) -> int:
    return day.year * 12 + day.month - 1


def main(argv: list[str] | None = None) -> None:
    """Build the social-security database at the given path or URL."""
    parser = argparse.ArgumentParser(prog="python -m demo_systems.social_security", description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a SQLite file path, or a SQLAlchemy URL")
    parser.add_argument("--people", type=int, default=20_000, help="how many of the population to consider")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    url = build_database(args.target, people_n=args.people, seed=args.seed)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        insured = conn.scalar(sa.select(sa.func.count()).select_from(insured_persons))
        firms = conn.scalar(sa.select(sa.func.count()).select_from(employers))
    engine.dispose()
    print(f"social security: {insured} insured persons, {firms} employers in {engine.url.render_as_string()}")


if __name__ == "__main__":
    main()
