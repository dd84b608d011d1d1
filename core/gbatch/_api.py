"""What a Gradio server offers: its endpoints and their parameters.

Each transport builds these from what its Gradio version publishes (gradio 4+:
`view_api` plus the component props of `/config`; gradio 3: `/config` alone).
Tools read them to adapt to the server they are given; nothing here depends on
a Gradio version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._columns import Column

__all__ = ["Endpoint", "Param", "ServerApi", "choice_labels", "number_or_none", "untouched_value"]

FILE_COMPONENTS = {"audio", "image", "video", "file", "model3d", "uploadbutton", "simpleimage", "imageslider", "gallery"}
# Components whose value is a list of files: always for a Gallery, with file_count="multiple"/"directory" otherwise.
LIST_COMPONENTS = {"gallery"}


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
    #: a file parameter that takes a list of files (Gallery, file_count="multiple" or "directory")
    multiple: bool = False
    #: the component's id in the app config (transports use it to build requests)
    component_id: int | None = None

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
            return "files" if self.multiple else "file"
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
    """One event of the app that can be called.

    :param name: its `api_name` with a leading "/", or "" for an event that has none
        (gradio 3 apps such as So-VITS-SVC and Fooocus); `key` names either kind.
    :param fn_index: its position in the app config's dependencies.
    :param trigger: what starts it in the UI, e.g. the button's label.
    :param queued: whether it runs through the server's queue (rows can wait there).
    :param hidden: the app hides it from its API page (`show_api=False`, `api_name=False`).
    """

    name: str
    parameters: tuple[Param, ...]
    returns: tuple[Param, ...]
    fn_index: int | None = None
    trigger: str = ""
    queued: bool = True
    hidden: bool = False
    #: fn_index of the event this one follows in a `.then()` chain
    after: int | None = None

    @property
    def key(self) -> str:
        """`/name`, or `#N` (its fn_index) for an event without a name."""
        return self.name or f"#{self.fn_index}"

    def signature(self) -> str:
        args = ", ".join(p.name for p in self.parameters)
        return f"{self.key}({args})"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.parameters if p.name == name), None)


@dataclass(frozen=True)
class ServerApi:
    """The callable endpoints of one server (named first), plus its gradio version."""

    url: str
    version: str
    endpoints: dict[str, Endpoint]
    title: str = ""
    #: events without an api_name, or hidden from the API page: callable by fn_index
    unnamed: dict[int, Endpoint] = field(default_factory=dict)

    def endpoint(self, ref: str | int) -> Endpoint | None:
        """By name (`/predict` or `predict`), or by fn_index (`7`, `"#7"`)."""
        if isinstance(ref, int):
            return self.by_index(ref)
        text = ref.strip()
        if text.startswith("#") and text[1:].isdigit():
            return self.by_index(int(text[1:]))
        if not text.startswith("/"):
            text = "/" + text
        return self.endpoints.get(text)

    def by_index(self, fn_index: int) -> Endpoint | None:
        found = self.unnamed.get(fn_index)
        if found is not None:
            return found
        return next((e for e in self.endpoints.values() if e.fn_index == fn_index), None)

    def every_endpoint(self) -> list[Endpoint]:
        """Named endpoints, then the unnamed ones in fn_index order."""
        return [*self.endpoints.values(), *(self.unnamed[i] for i in sorted(self.unnamed))]

    @property
    def major(self) -> int:
        """The gradio major version (0 if unknown)."""
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0


# Fields whose page sends a value even when the config gives none: the frontends replace
# null with "" (Textbox: gradio 4.44 `Textbox.svelte`, 6.x `textbox/Index.svelte`; 3.41's
# configs already say ""), and from gradio 6 a Number shows and sends 0 (`number/Index.svelte`).
TEXT_COMPONENTS = {"textbox", "textarea"}
# Fields that need a value: untouched with none, the page sends null, which the app's
# function cannot take as a number or a choice.
VALUE_COMPONENTS = {"number", "slider", "checkbox", "dropdown", "radio"}


def untouched_value(component: str, props: Mapping[str, Any], major: int) -> tuple[bool, Any] | None:
    """What the page sends for a field the user never touches, from its `/config` props.

    `(True, value)`: that value; `(False, None)`: nothing a call could use (a Number or a
    choice with no initial value before gradio 6); None: this rule has no opinion (files,
    and components whose null the app receives as it is), so the transport's own applies.
    """
    kind = component.lower()
    if kind in FILE_COMPONENTS or not props:
        return None  # no config props (the API listing and config did not line up): nothing known
    value = props.get("value")
    if value is not None:
        return True, value
    if kind in TEXT_COMPONENTS:
        return True, ""
    if kind == "number" and major >= 6:
        return True, 0
    if kind in VALUE_COMPONENTS:
        return False, None
    return None


def choice_labels(props: Mapping[str, Any], choices: tuple[Any, ...] | None) -> tuple[tuple[str, Any], ...]:
    # The enum holds only the values; the config's [label, value] pairs hold what the UI shows,
    # which is what a user copies into a cell ("Slow mode" for "slow").
    if choices is None:
        return ()
    pairs = []
    for item in props.get("choices") or []:
        if isinstance(item, (list, tuple)) and len(item) == 2 and str(item[0]) != str(item[1]) and item[1] in choices:
            pairs.append((str(item[0]), item[1]))
    return tuple(pairs)


def number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
