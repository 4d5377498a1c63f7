"""JSON Schema validation with one humaniser per schema rule.

jsonschema's own messages ("Unevaluated properties are not allowed ...") are written
for schema authors; each rule here gets a sentence a spec author can act on, placed
at the line and column of the offending key or value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from orchestrator.errors import Problem
from orchestrator.hints import did_you_mean
from orchestrator.spec.schema import known_keys, schema, target_schema
from orchestrator.spec.yamlpos import Document, PathT

if TYPE_CHECKING:  # jsonschema costs ~40 ms to import: only when a file is validated
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
    "number": "a number",
    "integer": "an integer",
    "null": "empty",
}


def type_name(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"'{value}'" if isinstance(value, str) else repr(value)


Humaniser = Callable[["ValidationError", Document], list[Problem]]


def _path(error: ValidationError) -> PathT:
    return tuple(error.absolute_path)


def _schema(error: ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _rule(error: ValidationError) -> Any:
    """The failing keyword's value in the schema (jsonschema types it loosely)."""
    return error.validator_value


def _instance(error: ValidationError) -> Any:
    return error.instance


def _unknown_keys(error: ValidationError, doc: Document) -> list[Problem]:
    allowed = known_keys(_schema(error))
    instance = _instance(error) if isinstance(_instance(error), dict) else {}
    unknown = [k for k in instance if k not in allowed and not str(k).startswith("x-")]
    problems = []
    for key in unknown:
        hint = did_you_mean(key, allowed)
        if not hint and key == "depends_on" and _path(error) == ("defaults",):
            hint = "; depends_on belongs in a target, not in defaults"
        elif not hint and key in target_schema().get("properties", {}):
            hint = "; it belongs in a target (under targets.NAME)"
        elif not hint:
            hint = f"; allowed keys: {', '.join(sorted(allowed))}"
        problems.append(doc.problem((*_path(error), key), f"unknown key{hint}", key=True))
    return problems


def _type(error: ValidationError, doc: Document) -> list[Problem]:
    wanted = _rule(error)
    wanted_list = wanted if isinstance(wanted, list) else [wanted]
    names = [_TYPE_WORDS.get(str(w), str(w)) for w in wanted_list]
    words = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    msg = f"must be {words}, not {type_name(_instance(error))}"
    if wanted_list == ["array"] and not isinstance(_instance(error), dict | list):
        msg += f" (write [{_instance(error)}] for a single item)"
    return [doc.problem(_path(error), msg)]


def _required(error: ValidationError, doc: Document) -> list[Problem]:
    instance = _instance(error) if isinstance(_instance(error), dict) else {}
    missing = [k for k in _rule(error) if k not in instance]
    hint = {"version": "; add 'version: 1' at the top"}.get(missing[0], "") if missing else ""
    return [doc.problem(_path(error), f"missing required key '{k}'{hint}") for k in missing]


def _enum(error: ValidationError, doc: Document) -> list[Problem]:
    choices = [str(c).lower() if isinstance(c, bool) else str(c) for c in _rule(error)]
    hint = did_you_mean(str(_instance(error)), choices)
    return [
        doc.problem(
            _path(error),
            f"{_show(_instance(error))} is not allowed; use one of: {', '.join(choices)}{hint}",
        )
    ]


def _const(error: ValidationError, doc: Document) -> list[Problem]:
    rule = _rule(error)
    shown = str(rule).lower() if isinstance(rule, bool) else rule
    return [doc.problem(_path(error), f"must be {shown}, not {_show(_instance(error))}")]


def _custom_or(default: str) -> Humaniser:
    def humanise(error: ValidationError, doc: Document) -> list[Problem]:
        custom = _schema(error).get("x-error")
        if "propertyNames" in error.relative_schema_path:
            msg = custom or default
            name_path = (*_path(error), _instance(error))
            return [doc.problem(name_path, f"invalid name: {msg}", key=True)]
        text = f"{_show(_instance(error))} {custom}" if custom else default
        return [doc.problem(_path(error), text)]

    return humanise


def _pattern(error: ValidationError, doc: Document) -> list[Problem]:
    return _custom_or(f"{_show(_instance(error))} does not match {_rule(error)}")(error, doc)


def _min_length(error: ValidationError, doc: Document) -> list[Problem]:
    return [doc.problem(_path(error), "must not be empty")]


def _min_items(error: ValidationError, doc: Document) -> list[Problem]:
    n = _rule(error)
    text = "must not be empty" if n == 1 else f"needs at least {n} items"
    return [doc.problem(_path(error), text)]


def _unique(error: ValidationError, doc: Document) -> list[Problem]:
    seen: set[str] = set()
    dups = []
    for item in _instance(error):
        if str(item) in seen:
            dups.append(str(item))
        seen.add(str(item))
    return [doc.problem(_path(error), f"lists {', '.join(map(repr, dups))} more than once")]


def _one_of(error: ValidationError, doc: Document) -> list[Problem]:
    custom = _schema(error).get("x-error")
    # Prefer the branch written for this kind of value (a string cache entry is
    # judged by the string branch, a mapping by the mapping branch).
    same_kind = [
        e
        for e in error.context
        if not (e.validator == "type" and e.absolute_path == error.absolute_path)
    ]
    deeper = [e for e in same_kind if len(e.absolute_path) > len(error.absolute_path)]
    if deeper or (same_kind and not custom):
        return humanise(deeper or same_kind, doc)
    if custom and same_kind and all(_schema(e).get("x-error") for e in same_kind):
        return humanise(same_kind[:1], doc)
    text = f"{custom}" if custom else "does not match any allowed form"
    return [doc.problem(_path(error), text)]


_HUMANISERS: dict[str, Humaniser] = {
    "additionalProperties": _unknown_keys,
    "unevaluatedProperties": _unknown_keys,
    "type": _type,
    "required": _required,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "minLength": _min_length,
    "minItems": _min_items,
    "uniqueItems": _unique,
    "oneOf": _one_of,
    "anyOf": _one_of,
}


def humanise(errors: Iterable[ValidationError], doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    for error in errors:
        handler = _HUMANISERS.get(str(error.validator))
        if handler is None:
            problems.append(doc.problem(_path(error), re.sub(r"\s+", " ", error.message)))
        else:
            problems.extend(handler(error, doc))
    return problems


_validator: Draft202012Validator | None = None
_fast: Callable[[Any], Any] | None = None


def fast_check(data: Any) -> bool:
    """Whether `data` is valid, answered by fastjsonschema's generated code: about 20x
    jsonschema's time on a large spec (100,000 targets: 0.4 s against 8 s). The schema
    uses only keywords draft 7 has, read the same way. Problems are then found, and
    told one by one, by jsonschema (`validate_document`)."""
    global _fast  # noqa: PLW0603 - compiled once
    import fastjsonschema

    if _fast is None:
        root = schema()
        _fast = fastjsonschema.compile(
            {**_draft7(root, root), "$schema": "http://json-schema.org/draft-07/schema#"}
        )
    try:
        _fast(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _draft7(node: Any, root: dict[str, Any]) -> Any:
    """The schema in draft 7's words: a `$ref` beside `unevaluatedProperties` (2020-12:
    the referenced properties count as evaluated) becomes those properties inlined with
    `additionalProperties`; any other `$ref` becomes what it refers to (draft 7 ignores
    whatever stands beside a `$ref`), so that the generated code calls no function per
    target (each call made its name with `locals()`: a third of the check)."""
    if isinstance(node, list):
        return [_draft7(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft7(v, root) for k, v in node.items()}
    if "$ref" in out:
        referred: Any = root
        for part in out.pop("$ref").removeprefix("#/").split("/"):
            referred = referred[part]
        referred = _draft7(referred, root)
        if "unevaluatedProperties" not in out:
            return referred
        out["properties"] = {**referred.get("properties", {}), **out.get("properties", {})}
        out["additionalProperties"] = out.pop("unevaluatedProperties")
    return out


def validate_document(doc: Document) -> list[Problem]:
    """All schema problems of one loaded file, each placed at its line and column."""
    global _validator  # noqa: PLW0603 - built once, reused for every file
    if fast_check(doc.data):
        return []
    if _validator is None:
        from jsonschema import Draft202012Validator

        _validator = Draft202012Validator(schema())
    problems = humanise(_validator.iter_errors(doc.data), doc)
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=Problem.sort_key)
