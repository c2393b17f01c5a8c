"""Start-up refuses broken license type files, naming the file and the field."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from hub.licenses.types import LicenseTypeError
from hub.main import create_app
from tests.conftest import ROOT, make_settings


def _broken_types(tmp_path):
    directory = tmp_path / "types"
    shutil.copytree(ROOT / "schemas" / "license-types", directory)
    path = directory / "business-license.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("type: date", "type: datetime", 1), encoding="utf-8")
    return directory


def test_create_app_refuses_a_broken_license_type(tmp_path, request):
    settings = make_settings("sqlite+files", tmp_path, request)
    settings.license_types_dir = _broken_types(tmp_path)
    with pytest.raises(LicenseTypeError) as failure:
        create_app(settings)
    assert "business-license.yaml" in str(failure.value) and ".type" in str(failure.value)


def test_hub_serve_exits_with_the_file_and_field(tmp_path):
    env = {"HUB_VAR_DIR": str(tmp_path / "var"), "HUB_LICENSE_TYPES_DIR": str(_broken_types(tmp_path)),
           "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "hub.cli", "serve"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "business-license.yaml: fields.3.type" in done.stdout
