"""Names and free text: no blank or invisible names, no control or bidirectional-override characters."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from hub.core.text import Line, Name, Text
from tests.conftest import bearer
from tests.support.licenses import business_license_request


class Form(BaseModel):
    name: Name = Field(max_length=20)
    line: Line = Field(default="x", max_length=20)
    text: Text = Field(default="", max_length=20)


BLANK = ["", "   ", "\u3000", "\u200b", "\u200b\u200d\ufeff", "\u3164\u3164", "\u2800", "\u00ad"]
BIDI = ["\u202aA", "A\u202b", "\u202c", "\u202d林", "林\u202e华", "\u2066x", "\u2067", "\u2068a", "a\u2069"]
CONTROL = ["a\x00", "a\x01b", "\x1b[31m", "a\x7f", "a\x85b", "a\x9f", "a\x1fb"]
LINE_BREAKS = ["a\nb", "a\rb", "a\tb", "a\u2028b", "a\u2029b"]


@pytest.mark.parametrize("value", BLANK + BIDI + CONTROL + LINE_BREAKS)
def test_names_refuse_blank_invisible_bidi_control_and_line_breaks(value):
    with pytest.raises(ValidationError):
        Form(name=value)
    with pytest.raises(ValidationError):
        Form(name="x", line=value)


@pytest.mark.parametrize("value", BLANK[3:] + BIDI + CONTROL)
def test_multiline_text_refuses_invisible_bidi_and_control_characters(value):
    with pytest.raises(ValidationError):
        Form(name="x", text=value)


@pytest.mark.parametrize("value,kept", [
    ("  林建华 ", "林建华"), ("Zoë O'Brien-Łukasz", "Zoë O'Brien-Łukasz"), ("阿卜杜勒·艾力", "阿卜杜勒·艾力"),
    ("محمد", "محمد"), ("क्षत्रिय", "क्षत्रिय"), ("👩\u200d💻", "👩\u200d💻"), ("a\u200bb", "a\u200bb"),
])
def test_real_names_pass_stripped(value, kept):
    assert Form(name=value).name == kept


def test_multiline_text_keeps_tab_and_line_breaks():
    assert Form(name="x", text=" 第一行\r\n\t第二行 ").text == "第一行\r\n\t第二行"
    assert Form(name="x").text == ""


@pytest.mark.parametrize("name", ["\u202e司公限有技科", "\u200b", "\u3164", "林\n建华", "林\t建华"])
def test_a_holder_name_that_would_mislead_is_422_and_issues_nothing(hub, departments, name):
    request = business_license_request()
    request["holder"]["name"] = name
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["market"]))
    assert response.status_code == 422, response.text
    assert ["body", "holder", "name"] in [e["loc"] for e in response.json()["errors"]]


@pytest.mark.parametrize("field,value,code", [
    ("legal_representative", "林\u202e华", "invalid"), ("legal_representative", "\u200b", "invalid"),
    ("legal_representative", "林\n华", "invalid"), ("address", "五四路\n100号", "invalid"),
    ("address", "五四路\u2067100号", "invalid"),
])
def test_license_data_text_follows_the_same_rules(hub, departments, field, value, code):
    request = business_license_request()
    request["data"][field] = value
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["market"]))
    assert response.status_code == 422, response.text
    assert {"field": field, "code": code} in [{k: e[k] for k in ("field", "code")} for e in response.json()["errors"]]


def test_multiline_license_fields_keep_their_line_breaks(hub, departments):
    request = business_license_request()
    request["data"]["business_scope"] = "软件开发；\n信息技术咨询服务"
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["market"]))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["business_scope"] == "软件开发；\n信息技术咨询服务"


@pytest.mark.parametrize("path,body,who", [
    ("/departments", {"code": "91350100M000100Y43", "name": "\u200b\u200b", "region": "示例市"}, "operator"),
    ("/departments", {"code": "91350100M000100Y43", "name": "数据局", "region": "示例\u202e市"}, "operator"),
    ("/grants", {"source": "household.residents", "fields": ["name"], "purpose": "核验\n户籍",
                 "legal_basis": "细则"}, "land"),
    ("/grants", {"source": "household.residents", "fields": ["name"], "purpose": "核验",
                 "legal_basis": "\u2066细则"}, "land"),
])
def test_names_and_purposes_elsewhere_are_checked_too(hub, departments, path, body, who):
    headers = hub.operator_headers() if who == "operator" else bearer(hub, departments[who])
    response = hub.client.post(path, json=body, headers=headers)
    assert response.status_code == 422 and response.json()["type"] == "urn:hub:problem:validation_error", response.text


def test_a_lifecycle_reason_may_span_lines_but_not_hide_characters(hub, departments):
    market = bearer(hub, departments["market"])
    issued = hub.client.post("/licenses", json=business_license_request(), headers=market).json()["id"]
    refused = hub.client.post(f"/licenses/{issued}/suspend", json={"reason": "核查\u202e中"}, headers=market)
    assert refused.status_code == 422, refused.text
    suspended = hub.client.post(f"/licenses/{issued}/suspend", json={"reason": "核查中：\n见函 2026-17 号"},
                                headers=market)
    assert suspended.status_code == 200, suspended.text
    history = hub.client.get(f"/licenses/{issued}/history", headers=market).json()
    assert history[-1]["reason"] == "核查中：\n见函 2026-17 号"
