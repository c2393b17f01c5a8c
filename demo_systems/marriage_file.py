"""示例市民政局婚姻登记信息 (demo): a CSV the civil-affairs bureau hands over for bulk import (归集).

Run: `python -m demo_systems.marriage_file var/demo/marriage.csv --rows 100000 [--bad-rows 3]`.
One row per adult of the population, household by household, so spouses name each other. With
`bad_rows=k`, k broken rows are inserted at the lines `bad_row_lines(rows, k)` returns, alternating a
resident id with a wrong check character and a row missing its last column.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from demo_systems.names import DISTRICTS
from demo_systems.population import (CITY, DEFAULT_SEED, DEMO_COUPLES, DEMO_MARRIAGE_OFFICE, DEMO_NAMES, SNAPSHOT,
                                     Person, demo_marriage_date, demo_person, households)

COLUMNS = ("resident_id", "name", "marital_status", "registered_on", "registry_office", "spouse_name")
STATUSES = ("未婚", "已婚", "离异", "丧偶")
_CHECKS = "10X98765432"
_YEAR = 365.25
_SNAPSHOT_ORD = SNAPSHOT.toordinal()
# Chances of 未婚/已婚/离异/丧偶 for an adult living without a spouse, under 25, 25-39, 40-64, 65 and over.
_SINGLE_WEIGHTS = ((95, 0, 5, 0), (70, 0, 25, 5), (35, 0, 45, 20), (15, 0, 40, 45))


def bad_row_lines(rows: int, bad_rows: int) -> list[int]:
    """Return the 1-based file lines (the header is line 1) of the bad rows in a file of `rows` good rows."""
    total = rows + bad_rows
    return [(i + 1) * total // (bad_rows + 1) + 2 for i in range(bad_rows)]


def write_marriage_csv(path: str | Path, *, rows: int = 100_000, seed: int = DEFAULT_SEED, bad_rows: int = 0) -> int:
    """Write the marriage-registration CSV and return how many data rows it holds (good plus bad)."""
    if rows < 0 or bad_rows < 0 or (bad_rows and not rows):
        raise ValueError("rows and bad_rows must not be negative, and bad rows need at least one good row to copy")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kinds = {line: kind for kind, line in enumerate(bad_row_lines(rows, bad_rows))}
    records = marriage_records(seed=seed)
    previous: tuple[str, ...] = ()
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(COLUMNS)
        for index in range(rows + bad_rows):
            kind = kinds.get(index + 2)
            if kind is None:
                previous = next(records)
                out.writerow(previous)
            else:  # bad_row_lines never puts a bad row first, so there is always a good row to copy
                out.writerow(_broken(previous, kind=kind))
    return rows + bad_rows


def marriage_records(*, seed: int = DEFAULT_SEED) -> Iterator[tuple[str, ...]]:
    """Yield CSV rows without end: each adult of each household, the demo citizens' first."""
    rng = random.Random(f"marriage-{seed}")
    for family in households(seed=seed):
        married = _couple(family, rng)
        for person in family:
            if _age(person) >= (22 if person.gender == "男" else 20):  # the legal marrying ages
                yield married.get(person.resident_id) or _single(person, rng)


def _couple(family: list[Person], rng: random.Random) -> dict[str, tuple[str, ...]]:
    """Return the rows of the head and spouse, who share one registration, by resident id."""
    head = family[0]
    spouse = next((p for p in family if p.relation_to_head == "配偶"), None)
    if spouse is None:
        return {}
    if head.resident_id in _DEMO_COUPLES:  # as on hub/demo/data.py's marriage certificates
        on, office = demo_marriage_date(_DEMO_COUPLES[head.resident_id]), DEMO_MARRIAGE_OFFICE
    else:
        on, office = date.fromordinal(_wedding(max(head.birth_date, spouse.birth_date), rng)), _office(rng)
    return {a.resident_id: (a.resident_id, a.name, "已婚", on.isoformat(), office, b.name)
            for a, b in ((head, spouse), (spouse, head))}


def _single(person: Person, rng: random.Random) -> tuple[str, ...]:
    """Return the row of an adult without a spouse in the household: never married, divorced or widowed."""
    age = _age(person)
    if person.resident_id in _DEMO_IDS:
        weights = (1, 0, 0, 0)  # the demo citizens without a spouse are unmarried
    else:
        weights = _SINGLE_WEIGHTS[0 if age < 25 else 1 if age < 40 else 2 if age < 65 else 3]
    status = rng.choices(STATUSES, weights=weights)[0]
    adult = person.birth_date.toordinal() + int(20 * _YEAR)
    registered = adult + rng.randrange(max(1, _SNAPSHOT_ORD - adult))
    former = "" if status == "未婚" else rng.choice("林陈黄王张李刘吴郑") + rng.choice("明华芳丽强燕平红")
    return (person.resident_id, person.name, status, date.fromordinal(registered).isoformat(), _office(rng), former)


def _wedding(younger_birth: date, rng: random.Random) -> int:
    """Draw a wedding day after the younger spouse turned 20 and before the snapshot."""
    earliest = younger_birth.toordinal() + int(20 * _YEAR)
    day = earliest + int(rng.uniform(2, 12) * _YEAR)
    return day if day < _SNAPSHOT_ORD else earliest + rng.randrange(max(1, _SNAPSHOT_ORD - earliest))


def _office(rng: random.Random) -> str:
    return f"{CITY}{rng.choice(DISTRICTS)[0]}民政局婚姻登记处"


def _age(person: Person) -> int:
    return int((_SNAPSHOT_ORD - person.birth_date.toordinal()) / _YEAR)


def _broken(row: tuple[str, ...], *, kind: int) -> tuple[str, ...]:
    """Break a copy of a good row: even kinds get a wrong check character, odd kinds lose the last column."""
    if kind % 2 == 1:
        return row[:-1]
    resident_id = row[0]
    wrong = _CHECKS[(_CHECKS.index(resident_id[17]) + 1) % len(_CHECKS)]
    return (resident_id[:17] + wrong, *row[1:])


_DEMO_IDS = frozenset(demo_person(i).resident_id for i in range(len(DEMO_NAMES)))
_DEMO_COUPLES = {demo_person(2 * c).resident_id: c for c in range(DEMO_COUPLES)}


def main(argv: list[str] | None = None) -> None:
    """Write the marriage CSV and print where its bad rows are."""
    parser = argparse.ArgumentParser(prog="python -m demo_systems.marriage_file", description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--bad-rows", type=int, default=0)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    written = write_marriage_csv(args.path, rows=args.rows, seed=args.seed, bad_rows=args.bad_rows)
    lines = bad_row_lines(args.rows, args.bad_rows)
    print(f"marriage records: {written} rows in {args.path}" + (f"; bad rows at lines {lines}" if lines else ""))


if __name__ == "__main__":
    main()
