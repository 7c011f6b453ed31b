"""`fairview tcf decode|encode` through the Typer sub-app."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from fairview.consent.cli import app

runner = CliRunner()
V1 = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA"
V10 = "CQuFeUAQuFeUAAKABBENAHEgAPIAAEIAAAYgAEEUAAiAAAAA.IAEEUAAA.YAAAAAAAAAAA"


def _lines(output: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in output.splitlines()]


def test_decode_prints_the_reference_field_names() -> None:
    result = runner.invoke(app, ["decode", V1])
    assert result.exit_code == 0
    (out,) = _lines(result.output)
    assert out["cmpId"] == 880
    assert out["created"] == "2025-06-03T00:00:00.000Z"
    assert out["vendorsDisclosed"] == [1, 2, 3, 4, 5, 100, 404]
    assert out["publisherRestrictions"] == []


def test_decode_of_an_invalid_string_prints_an_error_and_exits_2() -> None:
    result = runner.invoke(app, ["decode", "Bg"])
    assert result.exit_code == 2
    (out,) = _lines(result.output)
    assert out["error"] == "bad_bit_length"
    assert "Bg" not in str(out["detail"])


def test_strict_decode_applies_the_validation_rules() -> None:
    result = runner.invoke(app, ["decode", "--strict", V1])
    assert result.exit_code == 2
    assert _lines(result.output)[0]["error"] == "policy_version_too_old"


def test_decode_from_stdin_writes_one_object_per_line_and_exit_1_on_a_bad_line() -> None:
    result = runner.invoke(app, ["decode"], input=f"{V1}\n\nnot a TC string!\n{V10}\n")
    assert result.exit_code == 1
    out = _lines(result.output)
    assert [o.get("cmpId", o.get("error")) for o in out] == [880, "bad_base64", 10]


def test_decode_from_stdin_exits_0_when_every_line_decodes() -> None:
    result = runner.invoke(app, ["decode"], input=f"{V1}\n{V10}\n")
    assert result.exit_code == 0
    assert len(_lines(result.output)) == 2


def test_encode_reproduces_the_string_from_the_decoded_json() -> None:
    decoded = runner.invoke(app, ["decode", V10]).output
    result = runner.invoke(app, ["encode"], input=decoded)
    assert result.exit_code == 0
    assert result.output.strip() == V10


def test_encode_writes_the_segments_asked_for() -> None:
    decoded = runner.invoke(app, ["decode", V1]).output
    result = runner.invoke(app, ["encode", "--segments", "core,vendorsDisclosed"], input=decoded)
    assert result.output.strip() == V1.rsplit(".", 1)[0]


def test_encode_refuses_bad_json_and_bad_models_with_exit_2() -> None:
    bad_json = runner.invoke(app, ["encode"], input="{")
    assert bad_json.exit_code == 2
    assert _lines(bad_json.output)[0]["error"] == "bad_json"
    no_date = runner.invoke(app, ["encode"], input='{"cmpId": 1}')
    assert no_date.exit_code == 2
    assert _lines(no_date.output)[0]["error"] == "bad_model"
    bad_field = runner.invoke(
        app, ["encode"], input='{"created": "2025-01-01T00:00:00Z", "cmpId": 5000}'
    )
    assert _lines(bad_field.output)[0]["error"] == "bad_model"
    bad_segment = runner.invoke(
        app,
        ["encode", "--segments", "vendorsDisclosed"],
        input=runner.invoke(app, ["decode", V1]).output,
    )
    assert _lines(bad_segment.output)[0]["error"] == "bad_segments"
