"""Measure the QR of every license type for holder names of given lengths; check docs/qr-format.md against it.

    .venv/bin/python -m tests.support.qr_sizes        # prints the table of docs/qr-format.md section 10

Each license is built as the hub builds it (the type's QR fields from the demo's data, the type's default
validity, a serial of this year), signed ES256 with the fixed test key, with the larger status element
(list 1, an index above 65535, as half of all indexes are), and its QR symbol made by the hub's encoder
at error correction level M.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from hub.demo.data import demo_licenses
from hub.licenses.models import Holder
from hub.licenses.printing.qrimage import qr_version
from hub.licenses.pipeline import validated_data
from hub.licenses.types import LicenseType, load_license_types
from hub.trust.signing import encode_qr
from license_verifier.qr import LicenseClaims
from tests.vectors import make_vectors as mv

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "qr-format.md"
NAME_LENGTHS = (10, 20, 30, 40, 50, 100)  # 100: the longest holder name POST /licenses accepts
WORST_STATUS = (1, 131_071)
VALID_FROM = date(2026, 11, 21)
# Plausible long names, cut to length; every character is a CJK ideograph (3 bytes in UTF-8).
_ENTERPRISE = ("示例市榕城建筑工程集团有限公司闽江数字科技研究院海峡物流供应链管理服务中心三坊七巷文化旅游餐饮管理"
               "鼓山茶业种植加工销售专业合作社台江区江滨路商业综合体运营管理分公司仓山区城市更新建设投资发展总公司"
               "马尾区船政文化创意产业园区开发建设管理")
_PERSON = "阿依古丽买买提艾力阿不都热合曼托合提尼亚孜司马义吐尔逊古丽米娜瓦尔艾合买提江库尔班热依拉伊力哈木" * 3


@dataclass(frozen=True)
class Measured:
    type_code: str
    type_name: str
    holder: str
    name_length: int
    characters: int
    version: int


def _license_types() -> dict[str, LicenseType]:
    return load_license_types(ROOT / "schemas" / "license-types")


def claims_for(license_type: LicenseType, holder: Holder, data: dict, *, serial: int = 2026000001,
               status_ref: tuple[int, int] = WORST_STATUS) -> LicenseClaims:
    """The claims the hub signs for this request (see hub.licenses.pipeline.license_values)."""
    values = validated_data(license_type, holder, data, today=VALID_FROM)
    days = license_type.default_validity_days
    return LicenseClaims(
        type_code=license_type.code, issuer_code=license_type.issuers[0], serial=serial, version=1,
        valid_from=VALID_FROM, valid_until=VALID_FROM + timedelta(days=days - 1) if days else None,
        holder_id=holder.id, holder_name=holder.name,
        fields=tuple(values.get(name) for name in license_type.qr_fields), status_ref=status_ref)


# What the social-security source gives a no-wage-arrears proof (the demo issues it from the source, with no data
# of its own to measure): the demo database's widest values.
SOURCED = {"11100000MB900004XD001": {"period_start": "2026-01-01", "period_end": "2026-10-31", "employees": 70}}


def measure(lengths: tuple[int, ...] = NAME_LENGTHS) -> list[Measured]:
    """Every license type of the demo, with holder names of each length."""
    signer = mv.load_keys()["dept-a"].signer
    types = _license_types()
    requests = {request.type: request for _, request in demo_licenses()}
    rows = []
    for code in sorted(types, key=lambda c: (types[c].holder, c)):
        license_type, request = types[code], requests[code]
        pool = _PERSON if license_type.holder == "resident_id" else _ENTERPRISE
        for n in lengths:
            holder = request.holder.model_copy(update={"name": pool[:n]})
            text = encode_qr(claims_for(license_type, holder, request.data or SOURCED[code]), signer)
            rows.append(Measured(code, license_type.name, license_type.holder, n, len(text), qr_version(text)))
    return rows


def markdown(rows: list[Measured], lengths: tuple[int, ...] = NAME_LENGTHS) -> str:
    """The table of docs/qr-format.md section 10: QR version (characters) per type and name length."""
    head = "| license type (holder) | " + " | ".join(f"{n} chars" for n in lengths) + " |"
    lines = [head, "| --- |" + " --- |" * len(lengths)]
    by_type: dict[tuple[str, str], dict[int, Measured]] = {}
    for row in rows:
        by_type.setdefault((row.type_name, row.holder), {})[row.name_length] = row
    for (name, holder), cells in by_type.items():
        values = " | ".join(f"{cells[n].version} ({cells[n].characters})" for n in lengths)
        lines.append(f"| {name} ({holder}) | {values} |")
    return "\n".join(lines)


def documented_table() -> dict[tuple[str, int], tuple[int, int]]:
    """The size table of docs/qr-format.md as {(type name, name length): (version, characters)}."""
    text = DOC.read_text(encoding="utf-8")
    head = re.search(r"^\| license type \(holder\) \|(.*)$", text, re.M)
    lengths = [int(n) for n in re.findall(r"(\d+) chars", head.group(1))]
    table = {}
    for line in text[head.end():].strip().splitlines()[1:]:
        if not line.startswith("|"):
            break
        name = line.split("|")[1].split("(")[0].strip()
        cells = re.findall(r"(\d+) \((\d+)\)", line)
        table.update(((name, n), (int(v), int(c))) for n, (v, c) in zip(lengths, cells, strict=True))
    return table


def documented_payload_elements() -> int:
    """The element count docs/qr-format.md gives for the payload of every QR the hub issues."""
    return int(re.search(r"every QR the hub issues\s+carries (\d+) elements", DOC.read_text(encoding="utf-8")).group(1))


if __name__ == "__main__":
    print(markdown(measure()))
