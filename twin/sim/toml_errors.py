"""Errors for TOML input that say where and what: file, line, key path and what is allowed.

:func:`syntax_error` turns a :class:`tomllib.TOMLDecodeError` into an
:class:`~twin.errors.InputError` with the offending line and a caret;
:func:`validation_error` turns a pydantic :class:`~pydantic.ValidationError` of a model
tree (``root``, e.g. :class:`twin.sim.scenario.Scenario`) into one ``InputError`` listing every
problem with its line (:class:`TomlIndex`, since :mod:`tomllib` gives no positions), its key
path (``constellation.shells[1].altitude_km``) and what the key accepts, read from the field's
type and ``Field`` constraints (``160 <= altitude_km <= 40000``). A value type that is parsed
from text says in words what it accepts with :class:`Allowed` metadata::

    Duration = Annotated[float, BeforeValidator(parse), Allowed("a duration such as 36h")]

A field can override that text with ``json_schema_extra={"allowed": ...}``; a validator can
give its own with a ``PydanticCustomError`` whose context holds ``problem`` and ``allowed``.
Nothing here knows about scenarios.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from twin.errors import InputError

__all__ = ["Allowed", "PathKey", "TomlIndex", "source_line", "syntax_error", "validation_error"]

PathKey = tuple[str | int, ...]
"""A key path into TOML data: table keys and array indices."""


@dataclass(frozen=True)
class Allowed:
    """``Annotated`` metadata: what a value type parsed from text accepts, in words."""

    text: str


def syntax_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> InputError:
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m is None:
        return InputError(f"TOML syntax error: {msg}", file=source, allowed="TOML 1.0 syntax")
    line, column = int(m.group(1)), int(m.group(2))
    problem = msg[: m.start()].strip() or "syntax error"
    lines = text.splitlines()
    context = None
    if 1 <= line <= len(lines):
        context = f"{line:5d} | {lines[line - 1]}\n      | {' ' * (column - 1)}^"
    return InputError(
        f"TOML syntax error: {problem} (column {column})",
        file=source,
        line=line,
        allowed="TOML 1.0 syntax",
        context=context,
    )


def validation_error(
    exc: ValidationError, data: dict[str, Any], text: str, source: str, root: type[BaseModel]
) -> InputError:
    """One :class:`InputError` for every problem pydantic found validating ``data`` (parsed
    from ``text``, read from ``source``) as ``root``: the first in its fields, all of them
    with their lines in the message."""
    index = TomlIndex(text)
    found: list[tuple[int | None, str, str, str]] = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, "kind")
        raw = _lookup(data, path)
        if kind == "union_tag_invalid":
            problem = f"unknown kind {raw!r}"
            allowed = f"one of {ctx.get('expected_tags', '')}"
        elif kind == "extra_forbidden":
            problem = f"unknown key {path[-1]!r}"
            allowed = _known_keys(path, data, root)
        elif kind in ("missing", "union_tag_not_found"):
            if len(path) > 1:
                problem = "missing required key"
                allowed = _allowed_for(path, data, kind, root)
            else:
                problem = "missing required table"
                allowed = f"a [{_format_path(path)}] table"
        else:
            message = str(ctx.get("problem") or err["msg"])
            if "problem" not in ctx and raw is not _MISSING:
                message = f"bad value {raw!r}: {message[0].lower()}{message[1:]}"
            problem = message
            allowed = (
                str(ctx["allowed"]) if "allowed" in ctx else _allowed_for(path, data, kind, root)
            )
        found.append((index.line(path), _format_path(path), problem, allowed))
    # a missing key is often the consequence of another problem (a misspelt key): last
    found.sort(key=lambda f: f[2].startswith("missing required"))
    line, field, problem, allowed = found[0]
    context_lines: list[str] = []
    shown = source_line(text, line)
    if shown:
        context_lines.append(shown)
    for other in found[1:]:
        where = source if other[0] is None else f"{source}:{other[0]}"
        note = f"  also {where}: {other[1]}: {other[2]}"
        if other[3]:
            note += f" (allowed: {other[3]})"
        context_lines.append(note)
    return InputError(
        problem,
        file=source,
        line=line,
        field=field,
        allowed=allowed or None,
        context="\n".join(context_lines) or None,
    )


def source_line(text: str, line: int | None) -> str | None:
    """``  12 | the line`` for error context, or ``None``."""
    lines = text.splitlines()
    if line is None or not 1 <= line <= len(lines):
        return None
    return f"{line:5d} | {lines[line - 1]}"


_MISSING: Any = object()


def _child(node: Any, key: str | int) -> Any:
    """``node[key]`` for a TOML table or array, or ``_MISSING``."""
    if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
        return node[key]
    if isinstance(key, str) and isinstance(node, dict) and key in node:
        return node[key]
    return _MISSING


def _lookup(data: Any, path: PathKey) -> Any:
    node = data
    for key in path:
        node = _child(node, key)
        if node is _MISSING:
            break
    return node


def _data_path(loc: tuple[str | int, ...], data: Any) -> PathKey:
    """Drop pydantic's union tags (e.g. ``"walker"``) from ``loc``, keeping TOML keys."""
    out: list[str | int] = []
    node = data
    for i, key in enumerate(loc):
        child = _child(node, key)
        if child is not _MISSING:
            out.append(key)
            node = child
        elif i == len(loc) - 1 and isinstance(node, dict):
            out.append(key)  # a missing key: keep its name
    return tuple(out)


def _format_path(path: PathKey) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out or "<scenario>"


def _model_in(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model class an annotation holds, choosing a union member by ``kind``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_in(typing.get_args(annotation)[0], node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin in (typing.Union, types.UnionType):
        models = [m for a in typing.get_args(annotation) if (m := _model_in(a, node))]
        if len(models) == 1:
            return models[0]
        kind = node.get("kind") if isinstance(node, dict) else None
        for model in models:
            kind_field = model.model_fields.get("kind")
            if kind_field and kind in typing.get_args(kind_field.annotation):
                return model
    return None


def _element(annotation: Any) -> Any:
    """The element type of ``tuple[X, ...]`` (through Optional/Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _element(typing.get_args(annotation)[0])
    if origin is tuple:
        return typing.get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _element(arg)
    return annotation


def _field_by_key(model: type[BaseModel], key: str) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info.alias or name, info
    return None


def _resolve(
    path: PathKey, data: Any, root: type[BaseModel]
) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last key of ``path`` and that key's field, if both exist."""
    annotation: Any = root
    node = data
    model: type[BaseModel] | None = None
    info: FieldInfo | None = None
    for key in path:
        if isinstance(key, int):
            annotation = _element(annotation)
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
            continue
        model = _model_in(annotation, node)
        if model is None:
            return None, None
        found = _field_by_key(model, key)
        if found is None:
            return model, None
        info = found[1]
        annotation = info.annotation
        node = node.get(key) if isinstance(node, dict) else None
    return model, info


def _known_keys(path: PathKey, data: Any, root: type[BaseModel]) -> str:
    model, _ = _resolve(path, data, root)
    if model is None:
        return ""
    keys = [info.alias or name for name, info in model.model_fields.items()]
    bad = str(path[-1])
    close = difflib.get_close_matches(bad, keys, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}keys here: {', '.join(keys)}"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _allowed_for(path: PathKey, data: Any, error_type: str, root: type[BaseModel]) -> str:
    """Describe what a key accepts, from its type and ``Field`` constraints."""
    _, info = _resolve(path, data, root)
    if info is None:
        return ""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "allowed" in extra:
        return str(extra["allowed"])
    key = str(path[-1])
    lower = upper = ""
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            lower = f"{_num(meta.ge)} <= "
        elif isinstance(meta, annotated_types.Gt):
            lower = f"{_num(meta.gt)} < "
        elif isinstance(meta, annotated_types.Le):
            upper = f" <= {_num(meta.le)}"
        elif isinstance(meta, annotated_types.Lt):
            upper = f" < {_num(meta.lt)}"
    bounds = ""
    if lower and upper:
        bounds = f"{lower}{key}{upper}"
    elif lower:  # "key >= 1" reads better than "1 <= key"
        op, value = lower.split(" ")[1], lower.split(" ")[0]
        bounds = f"{key} {'>=' if op == '<=' else '>'} {value}"
    elif upper:
        bounds = f"{key}{upper}"
    if error_type.startswith(("greater_than", "less_than")) and bounds:
        return bounds
    kind = _describe_type(info)
    return f"{kind}, {bounds}" if bounds else kind


def _describe_type(info: FieldInfo) -> str:
    annotation = info.annotation
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    described = [m for m in info.metadata if isinstance(m, Allowed)]
    if typing.get_origin(annotation) is Annotated:
        described += [m for m in typing.get_args(annotation)[1:] if isinstance(m, Allowed)]
    if described:
        text = described[0].text
    elif typing.get_origin(annotation) is Literal:
        text = "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    elif annotation is bool:
        text = "true or false"
    elif annotation is int:
        text = "an integer"
    elif annotation is float:
        text = "a number"
    elif annotation is str:
        text = "a string"
    elif typing.get_origin(annotation) is tuple:
        text = "an array of tables"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        text = "a table"
    else:
        text = "a valid value"
    if info.metadata and any(isinstance(m, annotated_types.MinLen) for m in info.metadata):
        text = f"a non-empty {text.removeprefix('a ')}"
    return f"{text} (or leave it out)" if optional else text


class TomlIndex:
    """Line numbers of TOML keys and table headers (tomllib gives no positions).

    Maps a key path such as ``("constellation", "shells", 1, "altitude_km")`` to the
    1-based line that defines it; :meth:`line` falls back to the nearest enclosing table.
    Handles ``[table]``, ``[[array.of.tables]]``, dotted and quoted keys, comments, and
    skips the inside of multi-line strings and arrays.
    """

    _KEY = re.compile(
        r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
    )

    def __init__(self, text: str) -> None:
        self.lines: dict[PathKey, int] = {}
        aot_counts: dict[tuple[str, ...], int] = {}
        table: PathKey = ()
        depth = 0  # open brackets/braces of a multi-line value
        multiline: str | None = None  # open triple quote
        for number, raw in enumerate(text.splitlines(), start=1):
            if multiline is not None:
                if raw.count(multiline) % 2 == 1:
                    multiline = None
                continue
            if depth > 0:
                depth = max(0, depth + _bracket_balance(raw))
                continue
            stripped = raw.strip()
            if stripped.startswith("[["):
                keys = _split_key(stripped[2 : stripped.find("]]")])
                table = self._indexed(keys, aot_counts, new_array=True)
                self._add_table(table, number)
                continue
            if stripped.startswith("["):
                keys = _split_key(stripped[1 : stripped.find("]")])
                table = self._indexed(keys, aot_counts, new_array=False)
                self._add_table(table, number)
                continue
            m = self._KEY.match(raw)
            if m is None:
                continue
            key_path = (*table, *_split_key(m.group(1)))
            for i in range(len(table) + 1, len(key_path) + 1):
                self.lines.setdefault(key_path[:i], number)
            rest = raw[m.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    multiline = quote
            if multiline is None:
                depth = max(0, _bracket_balance(rest))

    def _add_table(self, table: PathKey, number: int) -> None:
        # implicit parents ([reliability] before [[reliability.components]]) point here too
        for end in range(1, len(table) + 1):
            self.lines.setdefault(table[:end], number)

    @staticmethod
    def _indexed(
        keys: list[str], aot_counts: dict[tuple[str, ...], int], *, new_array: bool
    ) -> PathKey:
        out: list[str | int] = []
        for i, key in enumerate(keys):
            out.append(key)
            raw = tuple(keys[: i + 1])
            last = i == len(keys) - 1
            if last and new_array:
                aot_counts[raw] = aot_counts.get(raw, 0) + 1
                # a new element invalidates counts of arrays nested in the previous one
                for nested in [k for k in aot_counts if len(k) > len(raw) and k[: len(raw)] == raw]:
                    del aot_counts[nested]
            if raw in aot_counts:
                out.append(aot_counts[raw] - 1)
        return tuple(out)

    def line(self, path: PathKey) -> int | None:
        """Line of ``path``, or of its nearest enclosing table/key; ``None`` if absent."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _split_key(text: str) -> list[str]:
    parts = re.findall(r""""([^"]*)"|'([^']*)'|([^.\s]+)""", text)
    return [a or b or c for a, b, c in parts]


def _bracket_balance(text: str) -> int:
    """Open minus closed ``[``/``{`` outside strings and comments."""
    balance = 0
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            balance += 1
        elif ch in "]}":
            balance -= 1
    return balance
