"""Messages say what the user wrote, where they wrote it, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from specgen.check import check_file
from specgen.diagnostics import format_json_path

HEAD = "specgen: 1\nname: m\ninput: {shape: [8, 8, 3]}\nlayers:\n"


def findings(tmp_path: Path, text: str, suffix: str = ".yaml") -> list[tuple[str, str, str]]:
    path = tmp_path / f"spec{suffix}"
    path.write_text(text, encoding="utf-8")
    return [
        (d.code, format_json_path(d.json_path), d.message) for d in check_file(path).report.errors
    ]


@pytest.mark.parametrize("value", ["[conv2d]", "{a: 1}", "5", "null"])
def test_a_type_that_is_not_a_string_is_a_type_error_not_a_crash(
    tmp_path: Path, value: str
) -> None:
    found = findings(tmp_path, HEAD + f"  - {{type: {value}, filters: 8, kernel_size: 3}}\n")
    assert [(c, p) for c, p, _ in found] == [("SG103", "$.layers[0].type")]
    assert "expected a layer type name (string)" in found[0][2]
    assert "(None)" not in found[0][2]


def test_values_are_shown_as_the_user_wrote_them(tmp_path: Path) -> None:
    found = findings(
        tmp_path, HEAD + "  - {type: conv2d, filters: null, kernel_size: 3, stride: true}\n"
    )
    messages = " | ".join(m for _, _, m in found)
    assert "got null" in messages and "got true (boolean)" in messages
    assert "None" not in messages and "True" not in messages


@pytest.mark.parametrize(
    ("layer", "path", "token"),
    [
        ("{type: conv2d, filters: 8, kernel_size: [3, 0]}", "kernel_size[1]", "0]"),
        ('{type: conv2d, filters: 8, kernel_size: 3, stride: [1, "2"]}', "stride[1]", '"2"'),
        (
            "{type: conv2d, filters: 8, kernel_size: 3, padding: [[1, -1], [0, 0]]}",
            "padding[0][1]",
            "-1",
        ),
    ],
)
def test_a_bad_element_is_reported_at_the_element(
    tmp_path: Path, layer: str, path: str, token: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + f"  - {layer}\n", encoding="utf-8")
    (error,) = check_file(spec).report.errors
    assert format_json_path(error.json_path) == f"$.layers[0].{path}"
    assert error.position is not None and error.position.line == 5
    line = f"  - {layer}"
    assert line[error.position.column - 1 :].startswith(token)


@pytest.mark.parametrize(
    ("text", "suffix", "code", "path"),
    [
        ('{"specgen": 1, "name": "a", "name": "b"}', ".json", "SG002", "$.name"),
        ("specgen: 1\ninput: {shape: [1, 2, 3], shape: [1]}\n", ".yaml", "SG002", "$.input.shape"),
        ('{"specgen": 1, "input": {"shape": [1, NaN, 3]}}', ".json", "SG003", "$.input.shape[1]"),
        ("specgen: 1\ninput: {shape: [1, .inf, 3]}\n", ".yaml", "SG003", "$.input.shape[1]"),
    ],
)
def test_reading_errors_carry_their_json_path(
    tmp_path: Path, text: str, suffix: str, code: str, path: str
) -> None:
    [(found_code, found_path, message)] = findings(tmp_path, text, suffix)
    assert (found_code, found_path) == (code, path)
    if code == "SG002":
        assert "column" in message
    else:
        assert message.endswith("is not a valid number in a spec")


def test_a_typo_is_one_error_whose_hint_names_the_fix(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + "  - {type: dropout, rat: 0.5}\n", encoding="utf-8")
    (error,) = check_file(spec).report.errors
    assert error.code == "SG102" and error.hint == "did you mean 'rate'?"


def test_a_missing_key_without_a_typo_is_still_reported(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + "  - {type: dropout, colour: 0.5}\n", encoding="utf-8")
    codes = sorted(d.code for d in check_file(spec).report.errors)
    assert codes == ["SG101", "SG102"]


def test_pool_window_hint_names_pool_size(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + "  - {type: max_pool2d, pool_size: 9}\n", encoding="utf-8")
    (error,) = check_file(spec).report.errors
    assert error.code == "SG201" and "a smaller pool_size" in (error.hint or "")
