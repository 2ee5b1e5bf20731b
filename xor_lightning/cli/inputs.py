"""What the user typed, read before jsonargparse parses it: bounded, and which model (and optimizer) it names.

jsonargparse reads a config file whole and expands YAML aliases; a small file can expand to
gigabytes ("billion laughs") and long lists parse in quadratic time. So every config file is
checked here first: size, UTF-8, and the number of YAML nodes after aliases are expanded. That is any
file jsonargparse may read, not only -c's: a group or class argument (`--trainer FILE`, `--data FILE`,
`--trainer.logger FILE`, ...) and a string in a config that names a file are read the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from xor_lightning.arguments import ConfigError

MAX_CONFIG_BYTES = 64 * 1024
MAX_CONFIG_NODES = 1000  # a shipped config has ~40
MAX_ARGUMENT_CHARS = 4096
MAX_ARGUMENT_ITEMS = 200  # jsonargparse parses a list in quadratic time: a long one takes seconds
SUBCOMMANDS = ("fit", "validate", "test", "predict")


def config_files(args: list[str]) -> list[str]:
    """The files named by -c/--config, before or after the subcommand."""
    files = []
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            files.append(args[i + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
        elif arg.startswith("-c") and not arg.startswith("--"):  # -cFILE and -c=FILE, as argparse takes them
            files.append(arg[2:].removeprefix("="))
    return files


# Arguments whose value is a path the run writes or a checkpoint, never a config jsonargparse reads.
PATH_ARGUMENTS = frozenset({"ckpt_path", "dirpath", "save_dir", "default_root_dir", "root_dir", "log_dir", "filename"})


def load_config_file(name: str, what: str = "config") -> Any:
    """The YAML in `name`, or ConfigError if it is missing, unreadable, too big, not UTF-8, not safe
    YAML or expands too far; `what` names the argument that gave it."""
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"{what} {name}: File does not exist")
    try:
        # Read at most one byte past the bound: /proc files report size 0 and can be endless.
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{what} {name}: cannot be read ({err.strerror or err})") from err
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{what} {name}: larger than {MAX_CONFIG_BYTES // 1024} KiB, not a config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {name}: not UTF-8 text (byte {err.start})") from err
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {name}: not valid YAML ({str(err).splitlines()[0][:100]})") from err
    except RecursionError as err:
        raise ConfigError(f"{what} {name}: nested too deeply") from err
    if node is not None and _expanded_size(node, {}) > MAX_CONFIG_NODES:
        raise ConfigError(f"{what} {name}: holds more than {MAX_CONFIG_NODES} values once YAML aliases are expanded")
    try:
        return yaml.safe_load(text)  # a tag such as !!python/name: is refused here, never resolved
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{what} {name}: not plain YAML ({str(problem)[:100]})") from err


def _check_nested_files(value: Any, base: Path, seen: set[Path], depth: int = 0) -> None:
    """Bound every file a config's strings name: jsonargparse reads a file given as a group or class."""
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            if str(key) not in PATH_ARGUMENTS:
                _check_nested_files(child, base, seen, depth + 1)
    elif isinstance(value, list):
        for child in value[:MAX_ARGUMENT_ITEMS]:
            _check_nested_files(child, base, seen, depth + 1)
    elif isinstance(value, str) and 0 < len(value) < MAX_ARGUMENT_CHARS and "\n" not in value:
        for candidate in (Path(value), base / value):
            if _is_file(candidate) and candidate.resolve() not in seen:
                seen.add(candidate.resolve())
                _check_nested_files(load_config_file(value), candidate.parent, seen, depth + 1)
                return


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte: not a file
        return False


def argument_files(args: list[str]) -> list[tuple[str, str]]:
    """(argument, value) for every `--key value` / `--key=value` whose value names an existing file
    that jsonargparse would read as a config (not -c's, not a checkpoint or a folder to write)."""
    found = []
    for i, arg in enumerate(args):
        if not arg.startswith("--") or arg.startswith("--config"):
            continue
        key, eq, value = arg.partition("=")
        if not eq:
            value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else ""
        name = key[2:].rstrip("+").split(".")[-1]
        if value and name not in PATH_ARGUMENTS and _is_file(Path(value)):
            found.append((key, value))
    return found


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """Nodes counted as often as aliases repeat them; memoised, so a bomb is counted, not expanded."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = MAX_CONFIG_NODES + 1  # a node that contains itself is too big
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, seen) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    seen[id(node)] = size = min(size, MAX_CONFIG_NODES + 1)
    return size


def check_arguments(args: list[str]) -> dict[str, Any]:
    """Bound every argument and config file; return the model the user named explicitly (see below)."""
    for arg in args:
        if len(arg) > MAX_ARGUMENT_CHARS:
            raise ConfigError(f"argument {arg[:40]}... is longer than {MAX_ARGUMENT_CHARS} characters")
        if arg.count(",") >= MAX_ARGUMENT_ITEMS:
            raise ConfigError(f"argument {arg[:40]}... lists more than {MAX_ARGUMENT_ITEMS} values")
    explicit: dict[str, Any] = {"class_path": False, "keys": set(), "optimizer": {"class_path": False, "keys": set()}}
    subcommand = next((a for a in args if a in SUBCOMMANDS), None)
    seen: set[Path] = set()
    for key, name in argument_files(args):
        seen.add(Path(name).resolve())
        _check_nested_files(load_config_file(name, key), Path(name).parent, seen)
    for name in config_files(args):
        config = load_config_file(name)
        seen.add(Path(name).resolve())
        _check_nested_files(config, Path(name).parent, seen)
        if isinstance(config, dict) and subcommand in config and isinstance(config[subcommand], dict):
            config = config[subcommand]  # a config given before the subcommand
        if isinstance(config, dict) and "model" in config:
            _add_model(explicit, config["model"])
        if isinstance(config, dict) and isinstance(config.get("optimizer"), (dict, str)):
            _add_model(explicit["optimizer"], config["optimizer"])
    for i, arg in enumerate(args):
        key, _, value = arg.partition("=")
        if key == "--model":
            given = value or (args[i + 1] if i + 1 < len(args) else "")
            if Path(given).is_file():  # jsonargparse reads a file given as a value: bound it, read its model
                _add_model(explicit, load_config_file(given))
                continue
            try:
                parsed = yaml.safe_load(given)
            except yaml.YAMLError:
                parsed = given
            _add_model(explicit, parsed if isinstance(parsed, dict) else {"class_path": given})
        elif key == "--optimizer" or key.startswith("--optimizer."):
            _add_optimizer_argument(explicit["optimizer"], key, value or (args[i + 1] if i + 1 < len(args) else ""))
        elif key.startswith("--model."):
            key = key.rstrip("+")  # jsonargparse's `--key+=value` appends to a list
            parts = [p for p in key[len("--model.") :].split(".") if p not in ("init_args", "dict_kwargs")]
            if parts == ["class_path"]:
                explicit["class_path"] = True
            elif parts:
                explicit["keys"].add(parts[0])
    return explicit


def _add_model(explicit: dict[str, Any], model: Any) -> None:
    """A `model:` entry names a class (class_path, or a bare class name) and/or its arguments."""
    if isinstance(model, str):
        if Path(model).is_file():  # a model config of its own
            _add_model(explicit, load_config_file(model))
            return
        explicit["class_path"] = True
        return
    if not isinstance(model, dict):
        return
    for key, value in model.items():
        if key == "class_path":
            explicit["class_path"] = True
        elif key in ("init_args", "dict_kwargs") and isinstance(value, dict):
            explicit["keys"].update(value)
        else:
            explicit["keys"].add(key)


def _add_optimizer_argument(explicit: dict[str, Any], key: str, value: str) -> None:
    """`--optimizer NAME`, `--optimizer '{class_path: ..., init_args: {lr: ...}}'`, `--optimizer.lr X`."""
    if key == "--optimizer":
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        _add_model(explicit, parsed if isinstance(parsed, dict) else {"class_path": value})
        return
    parts = [p for p in key[len("--optimizer.") :].split(".") if p not in ("init_args", "dict_kwargs")]
    if parts == ["class_path"]:
        explicit["class_path"] = True
    elif parts:
        explicit["keys"].add(parts[0])
