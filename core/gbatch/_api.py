"""What a Gradio server offers: its endpoints and their parameters.

Built from `view_api(return_format="dict")` plus the component properties in
the app config (view_api does not carry slider limits or display labels of
choices). Tools read this to adapt to the server they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._columns import Column

__all__ = ["Endpoint", "Param", "ServerApi"]

FILE_COMPONENTS = {"audio", "image", "video", "file", "model3d", "uploadbutton", "simpleimage", "imageslider"}


@dataclass(frozen=True)
class Param:
    """One input or output of an endpoint, as the server describes it."""

    name: str
    label: str
    component: str
    python_type: str
    schema: dict[str, Any] = field(repr=False)
    has_default: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    precision: int | None = None
    #: (display label, value) of choices shown under another name, e.g. gr.Radio([("Slow mode", "slow")])
    choice_labels: tuple[tuple[str, Any], ...] = ()
    #: a Dropdown with allow_custom_value=True: its choices are suggestions, not limits
    custom_values: bool = False
    #: the server's `example_input`, used for task-file templates
    example: Any = field(default=None, repr=False)

    @property
    def is_file(self) -> bool:
        title = str(self.schema.get("title", ""))
        return (
            self.component.lower() in FILE_COMPONENTS
            or self.python_type == "filepath"
            or title in {"FileData", "ImageData"}
        )

    @property
    def kind(self) -> str:
        """The column kind that converts a cell into what this parameter accepts."""
        if self.is_file:
            return "file"
        if self.choices is not None:
            return "list" if self.schema.get("type") == "array" else "any"
        kind = self.schema.get("type")
        if kind == "integer" or (kind == "number" and self.precision == 0):
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "string":
            return "text"
        if kind in ("array", "object") or self.component.lower() in {"json", "dataframe"}:
            return "json"
        return "any"

    @property
    def required(self) -> bool:
        # Apps often declare optional file inputs without a default (CosyVoice's prompt_wav_record,
        # InstantID's pose image); those are sent as None rather than demanded.
        return not self.has_default and not self.is_file

    def describe_type(self) -> str:
        if self.choices is not None:
            return "choice" + ("s" if self.schema.get("type") == "array" else "")
        return self.kind

    def column(self) -> Column:
        """A task-file column for this parameter, matched by name or by label."""
        return Column(
            name=self.name,
            kind=self.kind,
            required=self.required,
            default=self.default,
            choices=None if self.custom_values else self.choices,
            choice_aliases=self.choice_labels,
            minimum=self.minimum,
            maximum=self.maximum,
            aliases=(self.label,) if self.label and not self.label.startswith("value_") else (),
            help=self.label,
        )


@dataclass(frozen=True)
class Endpoint:
    name: str
    parameters: tuple[Param, ...]
    returns: tuple[Param, ...]

    def signature(self) -> str:
        args = ", ".join(p.name for p in self.parameters)
        return f"{self.name}({args})"


@dataclass(frozen=True)
class ServerApi:
    """All named endpoints of one server, plus its gradio version."""

    url: str
    version: str
    endpoints: dict[str, Endpoint]
    title: str = ""

    def endpoint(self, name: str) -> Endpoint | None:
        if not name.startswith("/"):
            name = "/" + name
        return self.endpoints.get(name)

    @classmethod
    def from_client(cls, client: Any, url: str) -> ServerApi:
        info = client.view_api(return_format="dict", print_info=False)
        config: dict[str, Any] = getattr(client, "config", None) or {}
        components = {c["id"]: c for c in config.get("components", [])}
        deps = {d.get("api_name"): d for d in config.get("dependencies", []) if d.get("api_name")}
        endpoints: dict[str, Endpoint] = {}
        for name, spec in (info.get("named_endpoints") or {}).items():
            dep = deps.get(name.lstrip("/"), {})
            in_props = _props(dep.get("inputs", []), components, len(spec.get("parameters", [])))
            out_props = _props(dep.get("outputs", []), components, len(spec.get("returns", [])))
            endpoints[name] = Endpoint(
                name=name,
                parameters=tuple(_param(p, pr) for p, pr in zip(spec.get("parameters", []), in_props, strict=True)),
                returns=tuple(_param(p, pr, index=i) for i, (p, pr) in enumerate(zip(spec.get("returns", []), out_props, strict=True))),
            )
        return cls(url=url, version=str(config.get("version", "")), endpoints=endpoints, title=str(config.get("title", "")))


def _props(ids: list[int], components: dict[int, Any], expected: int) -> list[dict[str, Any]]:
    # view_api hides State inputs; drop them here too so the two lists line up.
    props = [components[i].get("props", {}) for i in ids if i in components and components[i].get("type") != "state"]
    if len(props) != expected:
        return [{} for _ in range(expected)]
    return props


def _param(spec: dict[str, Any], props: dict[str, Any], index: int | None = None) -> Param:
    schema = spec.get("type") or {}
    if not isinstance(schema, dict):
        schema = {}
    choices = _choices(schema)
    name = spec.get("parameter_name") or (f"output_{index}" if index is not None else "")
    python_type = spec.get("python_type") or {}
    return Param(
        name=name,
        label=str(spec.get("label") or props.get("label") or ""),
        component=str(spec.get("component", "")),
        python_type=str(python_type.get("type", "")) if isinstance(python_type, dict) else str(python_type),
        schema=schema,
        has_default=bool(spec.get("parameter_has_default", False)),
        default=spec.get("parameter_default"),
        choices=choices,
        minimum=_number(props.get("minimum")),
        maximum=_number(props.get("maximum")),
        precision=props.get("precision") if isinstance(props.get("precision"), int) else None,
        choice_labels=_choice_labels(props, choices),
        # view_api lists the enum even when the app accepts any value
        custom_values=bool(props.get("allow_custom_value")),
        example=spec.get("example_input"),
    )


def _choices(schema: dict[str, Any]) -> tuple[Any, ...] | None:
    # Real enums only: a boolean Radio's python_type says Literal['False', 'True'] but the enum is real bools.
    if "enum" in schema:
        return tuple(schema["enum"])
    items = schema.get("items")
    if isinstance(items, dict) and "enum" in items:
        return tuple(items["enum"])
    return None


def _choice_labels(props: dict[str, Any], choices: tuple[Any, ...] | None) -> tuple[tuple[str, Any], ...]:
    # The enum holds only the values; the config's [label, value] pairs hold what the UI shows,
    # which is what a user copies into a cell ("Slow mode" for "slow").
    if choices is None:
        return ()
    pairs = []
    for item in props.get("choices") or []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and str(item[0]) != str(item[1]) and item[1] in choices:
            pairs.append((str(item[0]), item[1]))
    return tuple(pairs)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
