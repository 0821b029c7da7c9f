"""The JSON schema of a sweep config (package data: fixclr/workflow/schemas/config.schema.yaml).

It types every key of a sweep and supplies the defaults, which validation writes into the config.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources

import jsonschema
import yaml

SCHEMA_RESOURCE = ("fixclr.workflow", "schemas/config.schema.yaml")  # (package, path inside it)


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    package, path = SCHEMA_RESOURCE
    return resources.files(package).joinpath(path).read_text(encoding="utf-8")


def sweep_schema() -> dict:
    """The sweep config's JSON schema (Draft 2020-12) as a fresh dict, which the caller may change."""
    return yaml.safe_load(_schema_text())


def _validator_filling_defaults() -> type:
    """A Draft 2020-12 validator that also writes each property's schema default into the instance."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def schema_errors(sweep: dict, schema: dict) -> list[str]:
    """Validate ``sweep`` against ``schema``, filling in the defaults; one line per violation, naming the key."""
    validator = _validator_filling_defaults()(schema)
    errors = sorted(validator.iter_errors(sweep), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors]


def schema_numbers(instance, schema: dict):
    """``instance`` with the scientific-notation strings YAML 1.1 leaves (``3e-2``) converted
    where ``schema`` expects a number."""
    from fixclr.config import number_from_text

    if isinstance(instance, dict):
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            subschema = schema.get("properties", {}).get(key, extra)
            if isinstance(subschema, dict):
                instance[key] = schema_numbers(value, subschema)
        return instance
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [schema_numbers(value, schema["items"]) for value in instance]
    types = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    if "number" in types or "integer" in types:
        return number_from_text(instance, integer="number" not in types)
    return instance
