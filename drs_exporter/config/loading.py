"""From file to plain values: the YAML file, ``${VAR}`` substitution, and secrets.

Secrets are given inline, read from a ``*_file``, or (for AK/SK) taken from the
conventional environment variables. No message quotes the file or a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .schema import Credentials
from .validators import as_text, join_path, nonempty

_MAX_SECRET_FILE = 64 * 1024  # a secret file bigger than this is the wrong file
# A config or web-config file bigger than this is the wrong file, or an attack: parsing
# megabytes of YAML takes seconds of CPU. A thousand targets fit in a tenth of it.
MAX_FILE_BYTES = 1024 * 1024
# YAML aliases let a few lines stand for billions of values ("billion laughs"); counted with
# every alias expanded, a file may hold this many values (scalars, lists and mappings).
MAX_NODES = 200_000
_ENV_AK = "HUAWEICLOUD_SDK_AK"
_ENV_SK = "HUAWEICLOUD_SDK_SK"
_ENV_SECURITY_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _TooLarge(Exception):
    """The file's values, with every alias expanded, exceed MAX_NODES."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)
    and a document that, with its aliases expanded, holds more than MAX_NODES values."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {})
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str, field: str = "", what: str = "config file") -> Any:
    """Parse the YAML file at ``path``; ConfigError(field) with a one-line reason if it fails.

    Duplicate keys are refused, and no message quotes the file, which may hold secrets.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(field, f"{path}: cannot read the {what}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(field, f"{path}: the {what} is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(field, f"{path}: the {what} is not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except _TooLarge:
        raise ConfigError(
            field,
            f"{path}: the {what} holds more than {MAX_NODES} values once its YAML aliases "
            "are expanded",
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(field, _yaml_error_text(path, exc)) from None
    except yaml.YAMLError:
        raise ConfigError(field, f"{path}: invalid YAML") from None
    except RecursionError:
        raise ConfigError(field, f"{path}: invalid YAML: nested too deeply") from None


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded; _TooLarge past
    MAX_NODES. An alias is the same node object again, so each node is measured once."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node that contains itself counts once, not forever
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, sizes)
            if size > MAX_NODES:
                raise _TooLarge
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, sizes) + _expanded_size(value, sizes)
            if size > MAX_NODES:
                raise _TooLarge
    sizes[id(node)] = size
    return size


def _yaml_error_text(path: str, exc: yaml.MarkedYAMLError) -> str:
    # str(exc) quotes the offending line, which may hold a secret: use only the marks.
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
    text = f"{where}: invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.problem and exc.context:
        text += f" ({exc.context}"
        if exc.context_mark and exc.context_mark.line != (mark.line if mark else -1):
            text += f" at line {exc.context_mark.line + 1}"
        text += ")"
    return text


def substitute(data: Any, path: str, environ: Mapping[str, str], stack: set[int]) -> Any:
    """Expand ``${VAR}`` in every string value (not in keys)."""
    if isinstance(data, str):
        return _expand(data, path, environ)
    if not isinstance(data, (dict, list)):
        return data
    if id(data) in stack:  # YAML aliases can build a loop
        raise ConfigError(path, "contains itself (a loop of YAML anchors and aliases)")
    stack.add(id(data))
    try:
        if isinstance(data, dict):
            return {k: substitute(v, join_path(path, k), environ, stack) for k, v in data.items()}
        return [substitute(v, f"{path}[{i}]", environ, stack) for i, v in enumerate(data)]
    finally:
        stack.discard(id(data))


def _expand(text: str, path: str, environ: Mapping[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}``; ``$${`` is a literal ``${``; other ``$`` stay as is."""
    if "${" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise ConfigError(
                    path, "'${' without a closing '}' (write '$${' for a literal '${')"
                )
            out.append(_lookup(text[i + 2 : end], path, environ))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _lookup(reference: str, path: str, environ: Mapping[str, str]) -> str:
    name, has_default, default = reference.partition(":-")
    if not _VAR_NAME.fullmatch(name):
        # Not shown: the text may be part of a secret that lacks its '$$' escape.
        raise ConfigError(
            path,
            "invalid '${...}': a variable name has only letters, digits and '_' "
            "(write '$${' for a literal '${')",
        )
    if "${" in default:
        raise ConfigError(path, f"the default of ${{{name}:-...}} cannot refer to another variable")
    value = environ.get(name)
    if has_default and not value:  # as in the shell, ':-' also covers an empty variable
        return default
    if value is None:
        raise ConfigError(
            path,
            f"environment variable {name} is not set (give a default with ${{{name}:-default}})",
        )
    return value


def _has_control_character(text: str) -> bool:
    # A secret goes into an HTTP header, where a line break would be an injection.
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _secret_text(value: object, path: str) -> str:
    text = as_text(value, path)
    if not text:
        raise ConfigError(path, "is empty")
    if _has_control_character(text):
        raise ConfigError(path, "contains a line break or another control character")
    return text


def _read_secret_file(value: object, path: str, base_dir: str) -> str:
    full = os.path.normpath(os.path.join(base_dir, nonempty(value, path)))
    try:
        with open(full, encoding="utf-8") as f:
            content = f.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ConfigError(path, f"cannot read '{full}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, f"'{full}' is not UTF-8 text") from None
    if len(content) > _MAX_SECRET_FILE:
        raise ConfigError(path, f"'{full}' is larger than {_MAX_SECRET_FILE // 1024} KiB")
    # `echo secret > file` adds a newline; a mounted Kubernetes secret has none.
    content = content.rstrip("\r\n")
    if not content:
        raise ConfigError(path, f"'{full}' is empty")
    return _secret_text(content, path)


def secret(block: Mapping[str, Any], key: str, path: str, base_dir: str) -> str | None:
    """``key`` given inline or as ``key_file``; None when neither is there."""
    file_key = f"{key}_file"
    if key in block and file_key in block:
        raise ConfigError(join_path(path, key), f"give either {key} or {file_key}, not both")
    if key in block:
        return _secret_text(block[key], join_path(path, key))
    if file_key in block:
        return _read_secret_file(block[file_key], join_path(path, file_key), base_dir)
    return None


def environment_credentials(environ: Mapping[str, str], path: str) -> Credentials:
    access_key = environ.get(_ENV_AK, "")
    secret_key = environ.get(_ENV_SK, "")
    if not access_key and not secret_key:
        raise ConfigError(
            path,
            "no credentials: add a credentials block (top level or in this target), "
            f"or set {_ENV_AK} and {_ENV_SK} in the environment",
        )
    for name, found, other in ((_ENV_AK, access_key, _ENV_SK), (_ENV_SK, secret_key, _ENV_AK)):
        if not found:
            raise ConfigError(path, f"{name} is not set in the environment, but {other} is")
    security_token = environ.get(_ENV_SECURITY_TOKEN) or None
    for name in (_ENV_AK, _ENV_SK, _ENV_SECURITY_TOKEN):
        if _has_control_character(environ.get(name, "")):
            raise ConfigError(path, f"{name} contains a line break or another control character")
    return Credentials(access_key=access_key, secret_key=secret_key, security_token=security_token)
