"""Finding plugins, and the tools they register.

Built-in tools arrive through the same `gbatch` entry-point group as third
party ones. A plugin that fails to import is recorded, not fatal: the CLI keeps
working and `gbatch plugins` shows the error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from ._errors import PluginError
from ._tool import Tool

__all__ = ["PluginInfo", "Registry", "load_registry"]

ENTRY_POINT_GROUP = "gbatch"


@dataclass
class PluginInfo:
    """One entry point of the `gbatch` group, loaded or not."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    tools: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Registry:
    """The loaded plugin manager, the tools by name, and what happened while loading."""

    manager: pluggy.PluginManager
    tools: dict[str, Tool]
    plugins: list[PluginInfo]

    def tool(self, name: str) -> Tool:
        """The tool called `name`, or a `PluginError` listing the known ones."""
        try:
            return self.tools[name]
        except KeyError:
            known = ", ".join(sorted(self.tools)) or "none"
            raise PluginError(f"Unknown tool {name!r}. Installed tools: {known}.") from None


def _wanted() -> set[str]:
    allow = os.environ.get("GBATCH_LOAD_PLUGINS")
    return {part.strip() for part in allow.split(",") if part.strip()} if allow else set()


def _allowed(name: str) -> bool:
    # GBATCH_LOAD_PLUGINS=a,b loads only those entry points; set but empty loads none.
    allow = os.environ.get("GBATCH_LOAD_PLUGINS")
    if allow is None:
        return True
    return name in {part.strip() for part in allow.split(",") if part.strip()}


def _load_entry_point(pm: pluggy.PluginManager, ep: metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        module=ep.value,
        distribution=dist.name if dist else None,
        version=dist.version if dist else None,
    )
    try:
        plugin = ep.load()
        pm.register(plugin, name=ep.name)
    except BaseException as exc:  # noqa: BLE001 - a broken plugin must never break gbatch
        if isinstance(exc, KeyboardInterrupt):
            raise
        info.error = f"{type(exc).__name__}: {exc}"
    return info


def load_registry(*, entry_points: bool = True, extra: list[ModuleType | object] | None = None) -> Registry:
    """Build a fresh plugin manager, load plugins, and collect their tools.

    :param entry_points: load the `gbatch` entry-point group (tests may turn it off).
    :param extra: plugin objects to register directly, e.g. from a test.
    """
    pm = pluggy.PluginManager("gbatch")
    pm.add_hookspecs(hookspecs)
    infos = _load_installed(pm) if entry_points else []
    infos += _register_extra(pm, extra or [])
    _drop_invalid(pm, infos)
    registry = Registry(manager=pm, tools={}, plugins=infos)
    _call_each(registry, "register_tools", lambda name: {"register": _Registrar(registry, name)})
    return registry


def _load_installed(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Each entry point of the `gbatch` group (those GBATCH_LOAD_PLUGINS allows), loaded or not."""
    infos: list[PluginInfo] = []
    seen: set[str] = set()
    installed: set[str] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        installed.add(ep.name)
        if ep.name in seen or not _allowed(ep.name):
            continue
        seen.add(ep.name)
        infos.append(_load_entry_point(pm, ep))
    # Every name in GBATCH_LOAD_PLUGINS that matches no installed plugin is reported, not just the first.
    for name in _wanted() - installed:
        known = ", ".join(sorted(installed)) or "none"
        infos.append(PluginInfo(name=name, module="", distribution=None, version=None, error=f"GBATCH_LOAD_PLUGINS names {name!r}, but no installed plugin is called that (installed: {known})"))
    return infos


def _register_extra(pm: pluggy.PluginManager, extra: list[ModuleType | object]) -> list[PluginInfo]:
    infos: list[PluginInfo] = []
    for index, plugin in enumerate(extra):
        if pm.is_registered(plugin):
            continue  # a plugin under test that is also installed: once is enough
        name = getattr(plugin, "__name__", None) or f"extra-{index}"
        pm.register(plugin, name=name)
        infos.append(PluginInfo(name=name, module=name, distribution=None, version=None))
    return infos


def _drop_invalid(pm: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
    """Unregister a plugin whose hooks do not match the specs, and say why on its entry."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        broken = pm.get_name(exc.plugin)
        for info in infos:
            if info.name == broken:
                info.error = f"PluginValidationError: {exc}"
        if broken:
            pm.unregister(name=broken)


class _Registrar:
    """The `register` one plugin's `register_tools` is handed: checks each tool and credits it to the plugin."""

    def __init__(self, registry: Registry, plugin_name: str) -> None:
        self._tools = registry.tools
        self._owner = next((info for info in registry.plugins if info.name == plugin_name), None)

    def __call__(self, tool: Tool) -> None:
        if not isinstance(tool, Tool):
            raise PluginError(f"register() expects a gbatch.Tool, got {type(tool).__name__}")
        if tool.name in self._tools:
            raise PluginError(f"Two plugins register a tool called {tool.name!r}.")
        odd = [n for n in [*(c.name for c in tool.columns), *(o.name for o in tool.options)] if not n.isidentifier()]
        if odd:
            raise PluginError(f"tool {tool.name!r}: column and option names must be Python identifiers (use _ for -): {', '.join(odd)}")
        clashes = tool.flag_clashes()
        if clashes:
            flags = ", ".join("--" + c.replace("_", "-") for c in clashes)
            raise PluginError(f"tool {tool.name!r}: {flags} would shadow the flag{'s' if len(clashes) > 1 else ''} every tool has; rename the column or option")
        self._tools[tool.name] = tool
        if self._owner is not None:
            self._owner.tools.append(tool.name)


def call_register_commands(registry: Registry, app: Any) -> None:
    """Let plugins add commands; a plugin failing here is reported like any other."""
    _call_each(registry, "register_commands", lambda name: {"app": app})


def _call_each(registry: Registry, hook_name: str, arguments: Callable[[str], dict[str, Any]]) -> None:
    """Call one hook plugin by plugin (not through `pm.hook`), so that what a plugin
    registers is credited to it and one failing plugin does not stop the others."""
    trace = bool(os.environ.get("GBATCH_TRACE_PLUGINS"))
    for impl in getattr(registry.manager.hook, hook_name).get_hookimpls():
        given = arguments(impl.plugin_name)
        # pluggy lets an implementation take fewer arguments than the spec names.
        kwargs = {name: given[name] for name in impl.argnames}
        if trace:
            sys.stderr.write(f"gbatch: {hook_name}({', '.join(kwargs)}) in plugin {impl.plugin_name!r}\n")
        try:
            impl.function(**kwargs)
        except Exception as exc:  # noqa: BLE001 - reported per plugin, like an import failure
            for info in registry.plugins:
                if info.name == impl.plugin_name:
                    info.error = f"{type(exc).__name__} in {hook_name}: {exc}"
