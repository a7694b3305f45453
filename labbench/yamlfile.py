"""Reading validated YAML files (device models, bench files) with errors a user can act on.

PyYAML's ``safe_load`` keeps the *last* of two equal keys without a word; in a bench file
that silently replaced a 3.5 V limit with a 35 V one.  Here a repeated key is an error
naming both lines.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"unhashable key {key!r}", key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    f"key {key!r} first given on line {seen[key] + 1}", node.start_mark,
                    f"repeated on line {key_node.start_mark.line + 1}: a key may appear once; "
                    f"remove one of them", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 1.0e6 or 1e-3 as *strings* (it wants 1.0e+6); YAML 1.2 and every
# lab user read them as numbers.  Resolve them as floats, so a limit of 1e6 is seen as the
# number it is (and refused as one), not as a confusing "not a valid number".
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load_yaml(text: str):
    """``yaml.safe_load`` that refuses repeated keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def load_validated(cls: type[M], path: str | Path, what: str) -> M:
    """Parse ``path`` as YAML and validate it as ``cls``; every error names its key.

    ``what`` names the kind of file in messages ("device model", "bench file").
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {what} file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a {what} is YAML text)") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        lines = [f"{path}: invalid {what}"]
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
        raise ValueError("\n".join(lines)) from None
