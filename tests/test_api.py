from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gbatch._api import Endpoint, Param
from gbatch._columns import Column, File
from gbatch.transports.gradio_client import _param, api_from_client

FILE_DATA = {
    "title": "FileData",
    "type": "object",
    "properties": {"path": {"type": "string"}, "url": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
    "required": ["path"],
}
IMAGE_DATA = {**FILE_DATA, "title": "ImageData"}
DATAFRAME = {
    "type": "object",
    "properties": {"headers": {"type": "array"}, "data": {"type": "array"}},
    "required": ["headers", "data"],
}


def spec(schema: Any, component: str, python_type: str = "", **extra: Any) -> dict[str, Any]:
    """One parameter as view_api(return_format="dict") describes it."""
    return {
        "label": extra.pop("label", "Value"),
        "parameter_name": extra.pop("name", "value"),
        "parameter_has_default": "default" in extra,
        "parameter_default": extra.pop("default", None),
        "type": schema,
        "python_type": {"type": python_type, "description": ""},
        "component": component,
        "example_input": extra.pop("example", None),
    }


def param(
    schema: Any, component: str, python_type: str = "", props: dict[str, Any] | None = None, **extra: Any
) -> Param:
    return _param(spec(schema, component, python_type, **extra), props or {}, None)


@pytest.mark.parametrize(
    ("schema", "component", "props", "kind"),
    [
        ({"type": "string"}, "Textbox", {}, "text"),
        ({"type": "integer"}, "Number", {}, "int"),
        ({"type": "number"}, "Number", {"precision": 0}, "int"),
        ({"type": "number"}, "Number", {"precision": 2}, "float"),
        ({"type": "number"}, "Slider", {}, "float"),
        ({"type": "boolean"}, "Checkbox", {}, "bool"),
        ({"type": "boolean", "enum": [True, False]}, "Radio", {}, "any"),
        ({"type": "string", "enum": ["a", "b"]}, "Dropdown", {}, "any"),
        ({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}, "Checkboxgroup", {}, "list"),
        ({"type": "array", "items": {"type": "string"}}, "Textbox", {}, "json"),
        (DATAFRAME, "Dataframe", {}, "json"),
        ({}, "Json", {}, "json"),
        ({}, "Dataframe", {}, "json"),
        ({}, "State", {}, "any"),
        ("not a schema", "Textbox", {}, "any"),
        (FILE_DATA, "Audio", {}, "file"),
        (FILE_DATA, "MyCustomUpload", {}, "file"),
        (IMAGE_DATA, "Image", {}, "file"),
        ({"type": "string"}, "Video", {}, "file"),
    ],
)
def test_kind(schema: Any, component: str, props: dict[str, Any], kind: str) -> None:
    assert param(schema, component, props=props).kind == kind


def test_filepath_python_type_is_a_file() -> None:
    assert param({"type": "string"}, "Textbox", "filepath").kind == "file"


def test_required() -> None:
    assert param({"type": "string"}, "Textbox").required is True
    assert param({"type": "string"}, "Textbox", default="").required is False
    assert param({"type": "integer"}, "Number", default=None).required is False  # a default of None is a default
    # Optional file inputs are often declared without a default; they are sent as None.
    assert param(FILE_DATA, "Audio").required is False
    assert param(IMAGE_DATA, "Image").required is False


def test_describe_type() -> None:
    assert param({"type": "string", "enum": ["a"]}, "Dropdown").describe_type() == "choice"
    assert param({"type": "array", "items": {"enum": ["a"]}}, "Dropdown").describe_type() == "choices"
    assert param({"type": "integer"}, "Number").describe_type() == "int"


def test_param_from_spec_and_props() -> None:
    props = {"minimum": 0, "maximum": 2, "precision": 0, "label": "ignored: spec has a label"}
    got = param({"type": "number"}, "Slider", "float", props, name="speed", label="Speed", default=1, example=1.5)
    assert got == Param(
        name="speed",
        label="Speed",
        component="Slider",
        python_type="float",
        schema={"type": "number"},
        has_default=True,
        default=1,
        minimum=0.0,
        maximum=2.0,
        precision=0,
        example=1.5,
    )


def test_param_props_label_and_bad_limits() -> None:
    got = _param(
        {"type": {"type": "number"}, "component": "Slider"}, {"label": "Speed", "minimum": True, "maximum": "9"}, None
    )
    assert (got.name, got.label, got.minimum, got.maximum, got.python_type) == ("", "Speed", None, None, "")


# column()


def test_column_for_a_string() -> None:
    column = param({"type": "string"}, "Textbox", "str", name="text", label="Text to speak").column()
    assert column == Column(name="text", kind="text", required=True, aliases=("Text to speak",), help="Text to speak")
    assert column.match_keys() == {"text", "texttospeak"}


def test_column_for_a_number_with_limits() -> None:
    props = {"minimum": 0.5, "maximum": 2, "precision": None}
    column = param({"type": "number"}, "Slider", props=props, name="speed", label="Speed", default=1.0).column()
    assert column == Column(
        name="speed", kind="float", default=1.0, minimum=0.5, maximum=2.0, aliases=("Speed",), help="Speed"
    )
    assert column.convert("1.5", Path(".")) == 1.5
    with pytest.raises(ValueError, match=r"^3\.0 is above the maximum 2$"):
        column.convert("3", Path("."))


def test_column_for_an_integer_number() -> None:
    column = param({"type": "number"}, "Number", props={"precision": 0}, name="seed", default=0).column()
    assert (column.kind, column.required, column.default) == ("int", False, 0)
    assert column.convert("42.0", Path(".")) == 42


def test_column_for_a_checkbox() -> None:
    column = param({"type": "boolean"}, "Checkbox", name="stream", default=False).column()
    assert (column.kind, column.required, column.default, column.choices) == ("bool", False, False, None)
    assert column.convert("是", Path(".")) is True


def test_column_for_an_enum_of_bools() -> None:
    column = param({"type": "boolean", "enum": [True, False]}, "Radio", name="flag").column()
    assert (column.kind, column.choices) == ("any", (True, False))
    assert column.convert("yes", Path(".")) is True
    assert column.convert("False", Path(".")) is False


def test_column_for_an_array_of_enum_items() -> None:
    schema = {"type": "array", "items": {"type": "string", "enum": ["rock", "jazz"]}}
    column = param(schema, "Checkboxgroup", name="genres", default=[]).column()
    assert (column.kind, column.choices, column.default) == ("list", ("rock", "jazz"), [])
    assert column.convert("Rock | jazz", Path(".")) == ["rock", "jazz"]


def test_column_choice_labels_become_aliases() -> None:
    props = {"choices": [["Slow mode", "slow"], ["fast", "fast"], ["Ghost", "not-in-enum"]]}
    column = param({"type": "string", "enum": ["slow", "fast"]}, "Radio", props=props, name="mode").column()
    assert column.choices == ("slow", "fast")
    assert column.choice_aliases == (("Slow mode", "slow"),)
    assert column.convert("slow MODE", Path(".")) == "slow"


def test_column_custom_values_drop_the_choices() -> None:
    props = {"allow_custom_value": True}
    column = param({"type": "string", "enum": ["a", "b"]}, "Dropdown", props=props, name="voice").column()
    assert column.choices is None
    assert column.convert("zed", Path(".")) == "zed"


def test_column_for_a_file(tmp_path: Path) -> None:
    (tmp_path / "ref.wav").write_bytes(b"RIFF")
    column = param(FILE_DATA, "Audio", "filepath", name="prompt_wav", label="Prompt audio").column()
    assert (column.kind, column.required, column.aliases) == ("file", False, ("Prompt audio",))
    assert column.convert("ref.wav", tmp_path) == File(str((tmp_path / "ref.wav").resolve()))


def test_column_for_an_image() -> None:
    column = param(IMAGE_DATA, "Image", "filepath", name="image").column()
    assert column.kind == "file"


def test_column_for_a_dataframe() -> None:
    column = param(DATAFRAME, "Dataframe", "Dict", name="table").column()
    assert (column.kind, column.required) == ("json", True)
    assert column.convert('{"headers": ["a"], "data": [[1]]}', Path(".")) == {"headers": ["a"], "data": [[1]]}


def test_column_for_json() -> None:
    column = param({}, "Json", "Dict[Any, Any]", name="payload", label="value_3").column()
    assert (column.kind, column.aliases, column.help) == ("json", (), "value_3")
    assert column.convert("[1]", Path(".")) == [1]


# api_from_client (the gradio_client transport's reading of view_api + /config)


class FakeClient:
    def __init__(self, info: dict[str, Any], config: dict[str, Any]) -> None:
        self.info = info
        self.config = config

    def view_api(self, return_format: str, print_info: bool) -> dict[str, Any]:
        assert (return_format, print_info) == ("dict", False)
        return self.info


def test_server_api_from_client_lines_up_props_and_skips_state() -> None:
    info = {
        "named_endpoints": {
            "/speak": {
                "parameters": [
                    spec({"type": "string"}, "Textbox", name="text"),
                    spec({"type": "number"}, "Slider", name="speed"),
                ],
                "returns": [
                    {"label": "Output", "type": FILE_DATA, "python_type": {"type": "filepath"}, "component": "Audio"}
                ],
            }
        }
    }
    config = {
        "version": "5.9.1",
        "title": "TTS",
        "components": [
            {"id": 1, "type": "textbox", "props": {"label": "Text"}},
            {"id": 2, "type": "state", "props": {}},
            {"id": 3, "type": "slider", "props": {"minimum": 0.5, "maximum": 2}},
            {"id": 4, "type": "audio", "props": {}},
        ],
        "dependencies": [{"api_name": "speak", "inputs": [1, 2, 3], "outputs": [4]}],
    }
    api = api_from_client(FakeClient(info, config), "http://h/")
    assert (api.url, api.version, api.title) == ("http://h/", "5.9.1", "TTS")
    endpoint = api.endpoint("speak")
    assert isinstance(endpoint, Endpoint)
    assert endpoint is api.endpoint("/speak")
    assert api.endpoint("/missing") is None
    assert endpoint.signature() == "/speak(text, speed)"
    speed = endpoint.parameters[1]
    assert (speed.minimum, speed.maximum, speed.kind) == (0.5, 2.0, "float")
    assert [(r.name, r.label, r.kind) for r in endpoint.returns] == [("output_0", "Output", "file")]


def test_server_api_ignores_props_that_do_not_line_up() -> None:
    info = {"named_endpoints": {"/f": {"parameters": [spec({"type": "number"}, "Slider")], "returns": []}}}
    config = {
        "components": [{"id": 1, "props": {"minimum": 3}}, {"id": 2, "props": {}}],
        "dependencies": [{"api_name": "f", "inputs": [1, 2]}],
    }
    api = api_from_client(FakeClient(info, config), "http://h/")
    assert api.version == ""
    assert api.endpoints["/f"].parameters[0].minimum is None
