"""Reading validated YAML files (device models, bench files) with errors a user can act on.

PyYAML's ``safe_load`` keeps the *last* of two equal keys without a word; in a bench file
that silently replaced a 3.5 V limit with a 35 V one.  Here a repeated key is an error
naming both lines.  The same loader refuses what reads differently to a person than to
the parser, in every file labbench reads (bench files, sweep files, device models):

- anchors, aliases and merge keys (``&a``, ``*a``, ``<<:``): a value defined elsewhere
  is easy to miss in a safety limit, and nested aliases are a way to blow up memory
  (the "billion laughs");
- numbers that YAML 1.1 (PyYAML) and YAML 1.2 read differently: ``010`` (octal 8 or ten),
  ``1:30`` (sexagesimal 90 or a string), ``0b101``, ``1_000``.  They are refused with
  what to write instead.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, anchors, aliases, merge
    keys and ambiguous numbers."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, f"anchors and aliases (&{event.anchor} / *{event.anchor}) are not accepted: write "
                f"each value where it is used", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "merge keys (<<:) are not accepted: write the keys out", key_node.start_mark)
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


_AMBIGUOUS = "tag:labbench,2026:ambiguous-number"
_AMBIGUOUS_RE = re.compile(r"""^(?:[-+]?0[0-9_]+(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?   # leading zero: 010, 007.5
                             |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?      # sexagesimal: 1:30
                             |[-+]?0b[0-1_]+                                        # binary
                             |[-+]?[0-9.]*[0-9]_[0-9_.]*(?:[eE][-+]?[0-9]+)?)$""", re.X)


def _refuse_ambiguous(loader, node):
    text = node.value
    if ":" in text:
        hint = f"YAML 1.1 reads it as the base-60 number {_sexagesimal(text)}, YAML 1.2 as text; quote it " \
               f"('{text}') or write the number"
    elif "_" in text:
        hint = f"YAML 1.1 reads it as {text.replace('_', '')}, YAML 1.2 as text; write {text.replace('_', '')}"
    elif text.lstrip("+-").startswith("0b"):
        hint = "YAML 1.1 reads it as binary, YAML 1.2 as text; write the decimal number"
    else:
        hint = f"YAML 1.1 reads a leading 0 as octal, YAML 1.2 as decimal; write {text.lstrip('+-').lstrip('0') or '0'}" \
               " without the leading zero (or quote it as text)"
    raise yaml.constructor.ConstructorError(None, None, f"ambiguous number {text!r}: {hint}", node.start_mark)


def _sexagesimal(text: str) -> float:
    sign = -1 if text.startswith("-") else 1
    value = 0.0
    for part in text.lstrip("+-").split(":"):
        value = value * 60 + float(part.replace("_", "") or 0)
    return sign * value


# first in each list, so it wins over PyYAML's own int/float resolvers
for _ch in list("-+0123456789."):
    _UniqueKeyLoader.yaml_implicit_resolvers.setdefault(_ch, []).insert(0, (_AMBIGUOUS, _AMBIGUOUS_RE))
_UniqueKeyLoader.add_constructor(_AMBIGUOUS, _refuse_ambiguous)


def load_yaml(text: str):
    """``yaml.safe_load`` that refuses repeated keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


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
    prepare = getattr(cls, "from_file_data", None)   # a file format with versions migrates here
    if prepare is not None:
        try:
            data = prepare(data, path)
        except ValueError as e:
            raise ValueError(f"{path}: invalid {what}: {e}") from None
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        lines = [f"{path}: invalid {what}"]
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
        raise ValueError("\n".join(lines)) from None
