"""Bad input exits 2 with a message naming the file and the field, and no traceback."""

from __future__ import annotations

import pytest

from support import dualalign, toy_config


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"run": 'seed = "eleven"'}, "run.seed"),
        ({"run": "patients = 0"}, "run.patients"),
        ({"run": "seed = 1\ncolour = 3"}, "run.colour"),
        ({"generator": 'name = "no-such-generator"'}, "generator.name"),
        ({"annotator": 'name = "nope"'}, "annotator.name"),
        ({"filters": 'use = ["missing-filter"]'}, "filters.use[0]: unknown filter"),
        ({"personas": 'source = "nope"'}, "personas.source: unknown persona source"),
        ({"trajectory": 'sampler = "nope"'}, "trajectory.sampler: unknown trajectory sampler"),
        ({"generator": 'name = "slow-echo"\noptions = {delay = "slow"}'}, "generator.options.delay"),
        ({"disease": 'path = "/no/such/pack"'}, "disease.path"),
        ({"disease": 'name = "no_such_disease"'}, "disease.name"),
        ({"trajectory": "multiplier = -1"}, "trajectory.multiplier"),
    ],
)
def test_bad_config_exits_2_naming_field(plugin_site, tmp_path, sections, expected):
    cfg = toy_config(tmp_path / "bad.toml", **sections)
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", site=plugin_site)
    assert result.returncode == 2, result.stderr
    assert str(cfg) in result.stderr or "/no/such/pack" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "run.sqlite").exists()  # nothing half-written


def test_missing_config_file(tmp_path):
    result = dualalign("run", str(tmp_path / "absent.toml"), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "absent.toml" in result.stderr and "not found" in result.stderr


def test_invalid_toml(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[run\nseed = 1")
    result = dualalign("validate", str(bad))
    assert result.returncode == 2 and "broken.toml" in result.stderr and "invalid TOML" in result.stderr


def test_bad_table_names_file_and_field(tmp_path):
    import json
    import shutil

    from support import TOY_PACK

    pack = tmp_path / "pack"
    shutil.copytree(TOY_PACK, pack)
    demo = json.loads((pack / "demographics.json").read_text())
    demo["factors"][0]["rows"][0]["p"] = 0.9  # no longer sums to 1
    (pack / "demographics.json").write_text(json.dumps(demo))
    result = dualalign("validate", str(pack))
    assert result.returncode == 2
    assert "demographics.json" in result.stderr and "factors[0].rows" in result.stderr
    risk = json.loads((pack / "risk_factors.json").read_text())
    del risk["factors"][0]["source"]
    (pack / "risk_factors.json").write_text(json.dumps(risk))
    demo["factors"][0]["rows"][0]["p"] = 0.2
    (pack / "demographics.json").write_text(json.dumps(demo))
    result = dualalign("validate", str(pack))
    assert result.returncode == 2 and "risk_factors.json" in result.stderr and "factors[0]" in result.stderr


def test_unknown_export_format(plugin_site, tmp_path):
    cfg = toy_config(tmp_path / "t.toml", run="seed = 1\npatients = 1")
    assert dualalign("run", str(cfg), "--out", str(tmp_path / "r"), "-q", site=plugin_site).returncode == 0
    result = dualalign("export", str(tmp_path / "r"), "--format", "xml", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "--format" in result.stderr
    result = dualalign("export", str(tmp_path / "nope"), "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "not a run directory" in result.stderr
