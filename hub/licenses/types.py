"""License types as data: the pydantic models for schemas/license-types/*.yaml and their loader.

A license type says which fields a license of that kind carries, which of them go into the QR
code, how long it is valid and which departments may issue it. The hub loads every type once at
start (`load_license_types`) and checks each issuance request against it (hub.licenses.license_data).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hub.core.dates import is_bound
from hub.core.text import check_line
from license_verifier.identifiers import is_valid_credit_code, is_valid_license_type_code

DEFAULT_STRING_MAX_LENGTH = 200

FieldType = Literal["string", "date", "integer", "number", "boolean"]
# resident_id / credit_code: identity numbers, checked. name: a person's or body's name (hub.core.text.Name).
# multiline: free text that may span lines. Without a format a string is one line of free text.
FieldFormat = Literal["resident_id", "credit_code", "name", "multiline"]
SnakeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$", max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_line)]


class LicenseTypeError(Exception):
    """A license-type file is broken; the message names the file and the failing field path."""

    def __init__(self, path: Path | str, errors: list[tuple[str, str]]):
        self.path = str(path)
        self.errors = errors
        details = "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in errors)
        super().__init__(f"{self.path}: {details}")


class _Model(BaseModel):
    # strict: a YAML typo such as `max_length: "200"` is an error rather than silently coerced.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LicenseField(_Model):
    """One field of a license type."""

    name: SnakeName
    type: FieldType
    required: bool = True
    label: Text
    label_en: Text | None = None
    max_length: Annotated[int, Field(ge=1, le=100_000)] | None = None
    # Extra check for identity numbers carried in the data (e.g. a spouse's resident ID), names and long text.
    format: FieldFormat | None = None
    # Date fields only: a date or `today[±N(d|y)]`, counted on the day of issuance (hub.core.dates).
    earliest: date | str | None = None
    latest: date | str | None = None

    @field_validator("earliest", "latest")
    @classmethod
    def _date_bound(cls, value: date | str | None) -> date | str | None:
        if value is not None and not is_bound(value):
            raise ValueError("must be a date (YYYY-MM-DD) or today, today+N(d|y), today-N(d|y)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_string_length(cls, data: Any) -> Any:
        is_string = isinstance(data, dict) and data.get("type") == "string"
        if is_string and data.get("max_length") is None:
            return {**data, "max_length": DEFAULT_STRING_MAX_LENGTH}
        return data

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> LicenseField:
        for option, only_on in (("max_length", "string"), ("format", "string"), ("earliest", "date"),
                                ("latest", "date")):
            if self.type != only_on and getattr(self, option) is not None:
                raise ValueError(f"{option} applies only to {only_on} fields, not {self.type}")
        return self


class SourceBinding(_Model):
    """Where a type's data comes from when issued with `from_source`: a catalogue source, read through the exchange."""

    source: Annotated[str, Field(min_length=1, max_length=64)]
    purpose: Text
    fields: Annotated[dict[str, str], Field(min_length=1)]  # license field -> source field
    require: dict[str, Any] = Field(default_factory=dict)  # source field -> the value it must have to issue


class LicenseType(_Model):
    """A kind of e-license (证照类型) and the rules its licenses follow."""

    code: str
    name: Text
    name_en: Text
    holder: Literal["resident_id", "credit_code"]
    fields: list[LicenseField]
    qr_fields: list[str]
    default_validity_days: Annotated[int, Field(ge=1, le=36_500)] | None = None
    issuers: Annotated[list[str], Field(min_length=1)]
    from_source: SourceBinding | None = None

    @field_validator("from_source")
    @classmethod
    def _binding_names_fields(cls, binding: SourceBinding | None, info: ValidationInfo) -> SourceBinding | None:
        if binding is not None and "fields" in info.data:
            known = {f.name for f in info.data["fields"]}
            unknown = sorted(set(binding.fields) - known)
            if unknown:
                raise ValueError(f"fields {', '.join(unknown)} are not fields of this type")
        return binding

    @field_validator("code")
    @classmethod
    def _code_is_authority_credit_code_plus_three_digits(cls, code: str) -> str:
        if not is_valid_license_type_code(code):
            raise ValueError(
                "must be the defining authority's 18-character credit code followed by 3 digits"
            )
        return code

    @field_validator("fields")
    @classmethod
    def _field_names_are_unique(cls, fields: list[LicenseField]) -> list[LicenseField]:
        _reject_duplicates([f.name for f in fields], "field name")
        return fields

    @field_validator("qr_fields")
    @classmethod
    def _qr_fields_name_fields(cls, qr_fields: list[str], info: ValidationInfo) -> list[str]:
        _reject_duplicates(qr_fields, "QR field")
        # `fields` is validated first; if it failed, its own error is reported instead.
        if "fields" in info.data:
            known = [f.name for f in info.data["fields"]]
            for index, name in enumerate(qr_fields):
                if name not in known:
                    choices = ", ".join(known)
                    raise ValueError(f"item {index}: {name!r} is not one of the fields ({choices})")
        return qr_fields

    @field_validator("issuers")
    @classmethod
    def _issuers_are_credit_codes(cls, issuers: list[str]) -> list[str]:
        for index, code in enumerate(issuers):
            if not is_valid_credit_code(code):
                raise ValueError(f"item {index}: {code!r} is not a valid credit code")
        _reject_duplicates(issuers, "issuer")
        return issuers

    def field(self, name: str) -> LicenseField:
        """Return the field called `name`; raise KeyError if there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _reject_duplicates(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise ValueError(f"item {index}: duplicate {what} {value!r}")
        seen.add(value)


# --- Loading --------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def load_license_type(path: Path) -> LicenseType:
    """Read one license-type YAML file; raise LicenseTypeError naming the file and field."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise LicenseTypeError(path, [("", _yaml_message(exc))]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LicenseTypeError(path, [("", f"cannot read file: {exc}")]) from exc
    if not isinstance(raw, dict):
        message = f"expected a mapping at top level, got {type(raw).__name__}"
        raise LicenseTypeError(path, [("", message)])
    try:
        return LicenseType.model_validate(raw)
    except ValidationError as exc:
        raise LicenseTypeError(path, _pydantic_errors(exc)) from exc


def load_license_types(directory: Path) -> dict[str, LicenseType]:
    """Read every `*.yaml` in `directory` into a dict keyed by license type code."""
    types: dict[str, LicenseType] = {}
    origin: dict[str, Path] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        license_type = load_license_type(path)
        if license_type.code in types:
            code = license_type.code
            message = f"duplicate license type code {code}, already defined in {origin[code]}"
            raise LicenseTypeError(path, [("code", message)])
        types[license_type.code] = license_type
        origin[license_type.code] = path
    return types


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    errors = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        errors.append((loc, message))
    return errors


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return "YAML syntax error: " + " ".join(str(exc).split())
    return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {problem}"


# --- Checking license data against its type -----------------------------------------------------
