"""Deterministic synthetic citizens and enterprises of 示例市, shared by the demo department systems.

The population is a stream of households: the hub's twelve demo citizens first (hub/demo/data.py), then
generated households whose members have consistent surnames, ages, sexes and relations. Resident ids
are valid GB 11643 numbers and unique by construction: each (region, birth date, sex) keeps its own
counter of order codes, so no set of issued ids has to be held.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import accumulate, chain, islice

from demo_systems.names import (DISTRICTS, ETHNICITIES, FEMALE_GIVEN, INDUSTRIES, MALE_GIVEN, STREETS, SURNAMES,
                                TRADE_NAMES)
from hub.core.national_ids import make_credit_code, make_resident_id

CITY = "示例市"
DEFAULT_SEED = 2026
# The snapshot the registry describes: everyone is born and registered before this day.
SNAPSHOT = date(2026, 1, 1)

# These must match hub/demo/data.py (PEOPLE, person(i), COMPANIES, company(i)): the hub issues the demo
# e-licenses to exactly these citizens and enterprises, and the demo systems hold their records.
DEMO_NAMES = ("林建华", "陈美玲", "王志强", "张晓燕", "刘德明", "黄丽娟", "赵国庆", "周婷婷", "吴俊杰", "郑雅琴",
              "孙海涛", "朱慧敏")
DEMO_REGION = "350102"
DEMO_COMPANY_NAMES = ("福州闽江数字科技有限公司", "示例市榕城建筑工程有限公司", "示例市海峡物流有限公司",
                      "示例市三坊七巷餐饮管理有限公司", "示例市鼓山茶业有限公司")
# hub/demo/data.py issues marriage certificates to person(2i) with spouse person(2i + 1), i < 4.
DEMO_COUPLES = 4
DEMO_MARRIAGE_OFFICE = "示例市鼓楼区民政局婚姻登记处"
# Companies 0-2 hold the demo 农民工工资无拖欠证明 with `employees: 40 + i * 15`.
DEMO_EMPLOYEES = (40, 55, 70, 25, 120)

_SNAPSHOT_ORD = SNAPSHOT.toordinal()
_FIRST_REGISTRATION_ORD = date(1985, 1, 1).toordinal()  # 户口簿 records start with the 1985 reform
_YEAR = 365.25
_SURNAME_POOL = tuple(s for s, _ in SURNAMES)
_SURNAME_CUM = tuple(accumulate(w for _, w in SURNAMES))
_ETHNIC_POOL = tuple(e for e, _ in ETHNICITIES)
_ETHNIC_CUM = tuple(accumulate(w for _, w in ETHNICITIES))


@dataclass(frozen=True, slots=True)
class Person:
    """One resident as the household registry (户籍) records them."""

    resident_id: str
    name: str
    gender: str  # 男 | 女
    birth_date: date
    ethnicity: str
    address: str
    household_head: str
    relation_to_head: str
    registered_on: date

    def record(self) -> dict[str, str]:
        """Return the registry record with ISO dates, ready for JSON."""
        return {"resident_id": self.resident_id, "name": self.name, "gender": self.gender,
                "birth_date": self.birth_date.isoformat(), "ethnicity": self.ethnicity, "address": self.address,
                "household_head": self.household_head, "relation_to_head": self.relation_to_head,
                "registered_on": self.registered_on.isoformat()}


@dataclass(frozen=True, slots=True)
class Company:
    """One enterprise of 示例市."""

    credit_code: str
    name: str
    address: str
    employees: int


def people(n: int, *, seed: int = DEFAULT_SEED) -> Iterator[Person]:
    """Yield the first `n` residents: the 12 hub demo citizens, then generated ones."""
    return islice(chain.from_iterable(households(seed=seed)), n)


def households(*, seed: int = DEFAULT_SEED) -> Iterator[list[Person]]:
    """Yield households without end, head first; the demo citizens' households come first."""
    yield from _demo_households()
    factory = _HouseholdFactory(random.Random(seed))
    while True:
        yield factory.household()


def demo_person(index: int) -> Person:
    """Return demo citizen `index` (0-11), as hub/demo/data.py person(index) defines them."""
    return _demo_people()[index]


def demo_marriage_date(couple: int) -> date:
    """Return the registration date of demo couple `couple` (as on hub/demo/data.py's marriage certificates)."""
    return date(2021, couple + 1, 20)


def companies(*, extra: int = 50, seed: int = DEFAULT_SEED) -> list[Company]:
    """Return the 5 hub demo enterprises followed by `extra` generated ones, all with valid credit codes."""
    found = [Company(make_credit_code(12_340_000 + i, region="990100"), name, f"{CITY}鼓楼区五四路{100 + i}号",
                     DEMO_EMPLOYEES[i]) for i, name in enumerate(DEMO_COMPANY_NAMES)]
    rng = random.Random(f"companies-{seed}")
    names = {c.name for c in found}
    while len(found) < len(DEMO_COMPANY_NAMES) + extra:
        name = f"{CITY}{rng.choice(TRADE_NAMES)}{rng.choice(INDUSTRIES)}有限公司"
        if name in names:
            continue
        names.add(name)
        district, _ = rng.choice(DISTRICTS)
        address = f"{CITY}{district}{rng.choice(STREETS[district])}{rng.randint(1, 400)}号"
        employees = min(2000, max(3, int(rng.lognormvariate(4.0, 1.0))))
        found.append(Company(make_credit_code(12_340_000 + len(found), region="990100"), name, address, employees))
    return found


def _demo_birth(index: int) -> date:
    return date(1970 + index * 2, 1 + index % 12, 1 + index % 27)


def _demo_id(index: int) -> str:
    return make_resident_id(DEMO_REGION, _demo_birth(index), 10 + index, "M" if index % 2 == 0 else "F")


def _demo_head(index: int) -> int:
    return index - index % 2 if index < 2 * DEMO_COUPLES else index


def _demo_people() -> list[Person]:
    found = []
    for index, name in enumerate(DEMO_NAMES):
        head = _demo_head(index)
        if head == index:
            relation, registered_on = "户主", date(max(2000 + index, _demo_birth(index).year + 18), 3, 1)
        else:  # the spouse moved into the head's household a month after the wedding
            relation, registered_on = "配偶", date.fromordinal(demo_marriage_date(head // 2).toordinal() + 30)
        found.append(Person(_demo_id(index), name, "男" if index % 2 == 0 else "女", _demo_birth(index), "汉族",
                            f"{CITY}鼓楼区五四路{100 + head}号", DEMO_NAMES[head], relation, registered_on))
    return found


def _demo_households() -> Iterator[list[Person]]:
    found = _demo_people()
    for head in sorted({_demo_head(i) for i in range(len(found))}):
        yield [p for i, p in enumerate(found) if _demo_head(i) == head]


@dataclass(slots=True)
class _Spec:
    relation: str
    sex: str  # M | F
    age: int
    surname: str


class _HouseholdFactory:
    """Draws households from one random stream; remembers order codes used per region, birth day and sex."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: dict[int, int] = {}

    def household(self) -> list[Person]:
        """Draw one household: head, maybe a spouse, children, sometimes a parent of the head."""
        rng = self.rng
        region_index = rng.randrange(len(DISTRICTS))
        district, region = DISTRICTS[region_index]
        address = f"{CITY}{district}{rng.choice(STREETS[district])}{rng.randint(1, 400)}号"
        if rng.random() < 0.6:
            address += f"{rng.randint(1, 30)}栋{rng.randint(1, 33)}0{rng.randint(1, 6)}室"
        ethnicity = rng.choices(_ETHNIC_POOL, cum_weights=_ETHNIC_CUM)[0]
        head = None
        members: list[Person] = []
        formed = 0
        for spec in self._specs():
            birth_ord = _SNAPSHOT_ORD - int(spec.age * _YEAR) - rng.randrange(1, 365)
            birth_ord, resident_id = self._resident_id(region_index, region, birth_ord, spec.sex)
            name = spec.surname + self._given(spec.sex)
            if head is None:
                head, formed = name, self._formed_on(birth_ord)
            registered = min(max(formed, birth_ord + rng.randint(7, 60)), _SNAPSHOT_ORD - 1)
            own_ethnicity = ethnicity if spec.relation != "配偶" else rng.choices(_ETHNIC_POOL,
                                                                                 cum_weights=_ETHNIC_CUM)[0]
            members.append(Person(resident_id, name, "男" if spec.sex == "M" else "女", date.fromordinal(birth_ord),
                                  own_ethnicity, address, head, spec.relation, date.fromordinal(registered)))
        return members

    def _specs(self) -> list[_Spec]:
        rng = self.rng
        sex = "M" if rng.random() < 0.7 else "F"
        age = int(rng.triangular(20, 92, 42))
        specs = [_Spec("户主", sex, age, self._surname())]
        family_surname, youngest = specs[0].surname, age
        if age >= 22 and rng.random() < 0.72:
            spouse = _Spec("配偶", "F" if sex == "M" else "M", max(20, age + round(rng.gauss(0, 3))), self._surname())
            specs.append(spouse)
            family_surname = spouse.surname if sex == "F" else family_surname  # children take the father's
            youngest = min(age, spouse.age)
        count = rng.choices((0, 1, 2, 3), weights=(25, 45, 25, 5))[0] if youngest >= 23 else 0
        ages = sorted((youngest - rng.randint(22, 38) for _ in range(count)), reverse=True)
        for child_age in (a for a in ages if a >= 0):
            child_sex = "M" if rng.random() < 0.52 else "F"
            specs.append(_Spec("子" if child_sex == "M" else "女", child_sex, child_age, family_surname))
        if age <= 62 and rng.random() < 0.08:
            father = rng.random() < 0.4
            surname = specs[0].surname if father and sex == "M" else self._surname()
            specs.append(_Spec("父亲" if father else "母亲", "M" if father else "F", age + rng.randint(22, 34),
                               surname))
        return specs

    def _resident_id(self, region_index: int, region: str, birth_ord: int, sex: str) -> tuple[int, str]:
        """Take the next unused order code for this region, day and sex (the day before when all 499 are used)."""
        while True:
            key = (birth_ord * 8 + region_index) * 2 + (sex == "F")
            used = self.used.get(key, 0)
            if used < 499:
                break
            birth_ord -= 1
        self.used[key] = used + 1
        # Start each day's codes at a scrambled offset so the numbers do not all end in 001, 002...
        seq = ((key * 2654435761) >> 8) % 499
        seq = (seq + used) % 499 + 1
        return birth_ord, make_resident_id(region, date.fromordinal(birth_ord), seq, sex)

    def _formed_on(self, head_birth_ord: int) -> int:
        """Day the household was registered: after the head turned 18 and after the 1985 reform."""
        earliest = max(head_birth_ord + int(18 * _YEAR), _FIRST_REGISTRATION_ORD)
        return min(earliest + self.rng.randrange(max(1, _SNAPSHOT_ORD - earliest)), _SNAPSHOT_ORD - 1)

    def _surname(self) -> str:
        return self.rng.choices(_SURNAME_POOL, cum_weights=_SURNAME_CUM)[0]

    def _given(self, sex: str) -> str:
        pool = MALE_GIVEN if sex == "M" else FEMALE_GIVEN
        choice = self.rng.choice
        return choice(pool) if self.rng.random() < 0.2 else choice(pool) + choice(pool)
