"""`listen` settings from a TOML file; command-line options override the file.

Every listen option has a key of the same name (dashes or underscores), e.g.

    device = "system"            # or an index: device = 3
    host_api = "JACK"
    channels = [1, 2]            # 1-based input channels, mixed to mono
    samplerate = 48000
    blocksize = 128
    model = "models/default.onnx"
    osc = ["127.0.0.1:9000", "192.168.1.20:57120"]
    prefix = "/drumtimbre"
    scale = "unit"               # or "audiocommons" (0-100 points)
    timetag = "immediate"        # or "onset"
    window = 1.0                 # seconds
    early_ms = 25.0
    preroll_ms = 3.0
    early_from = "input"         # or "stream"
    ring_subtraction = true      # take the ring of earlier hits out of each early and final window
    group_ms = "auto"            # or a number of ms (0: the worker runs every block at once)
    display = true

    [onsets]                     # realtime.onsets.OnsetParams fields
    ...

Relative paths (model, input, stats) are taken from the config file's folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.engine import EngineConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: option -> (accepted python types, default)
LISTEN_OPTIONS: dict[str, tuple[tuple[type, ...], Any]] = {
    "device": ((str, int), None),
    "host_api": ((str,), None),
    "channels": ((str, int, list), None),
    "samplerate": ((int,), None),
    "blocksize": ((int,), 128),
    "input": ((str,), None),
    "realtime": ((bool,), False),
    "model": ((str,), None),
    "osc": ((list, str), None),
    "prefix": ((str,), "/drumtimbre"),
    "scale": ((str,), "unit"),
    "timetag": ((str,), "immediate"),
    "window": ((float, int), 1.0),
    "early_ms": ((float, int), 25.0),
    "preroll_ms": ((float, int), 3.0),
    "detect_rate": ((str, int), "input"),
    "early_from": ((str,), "input"),
    "ring_subtraction": ((bool,), True),
    "group_ms": ((str, float, int), "auto"),
    "display": ((bool,), True),
    "stats": ((str,), None),
    "onsets": ((dict,), None),
}
PATH_OPTIONS = ("input", "model", "stats")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and key."""


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and check a TOML config -> {option: value} (only the keys it sets)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name in out:  # early_ms and early-ms: which one was meant?
            raise ConfigError(f"{path}: option {key!r} set twice (with dashes and with underscores)")
        if name not in LISTEN_OPTIONS:
            raise ConfigError(f"{path}: unknown option {key!r} (known: {', '.join(LISTEN_OPTIONS)})")
        types, _ = LISTEN_OPTIONS[name]
        if isinstance(value, bool) and bool not in types:
            raise ConfigError(f"{path}: option {key!r} = {value!r}: expected {'/'.join(t.__name__ for t in types)}")
        if not isinstance(value, types):
            raise ConfigError(f"{path}: option {key!r} = {value!r}: expected {'/'.join(t.__name__ for t in types)}")
        if name == "osc" and isinstance(value, str):
            value = [value]
        if name == "onsets":
            try:
                onset_params(value)  # checked here, so every command names the file
            except ValueError as exc:
                raise ConfigError(f"{path}: {exc}") from None
        else:
            try:
                check_option(name, value)  # here too: the message names the file and key
            except ValueError as exc:
                raise ConfigError(f"{path}: option {key!r} = {raw[key]!r}: {exc}") from None
        if name in PATH_OPTIONS:
            p = Path(value).expanduser()
            value = str(p if p.is_absolute() else (path.parent / p))
        out[name] = value
    return out


MAX_BLOCKSIZE = 16384
"""The largest block (frames) listen and analyze take: a third of a second at 48 kHz (listen's ring holds 2 s)."""


def check_option(name: str, value: Any) -> None:
    """ValueError saying why `value` is no setting for listen option `name` (the values, from the command line
    or a config file; a config value's type is load_config's to check).  The window, early estimate and
    pre-roll are checked together later (each is in range here)."""
    from realtime.engine import MIN_INPUT_RATE
    from realtime.osc_out import SCALES, TIMETAGS, check_prefix, parse_destination
    from realtime.windows import MAX_PREROLL_MS, MAX_WINDOW_S

    def one_of(*allowed) -> None:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(map(str, allowed))}")

    if name in ("device", "host_api", "input", "model", "stats") and isinstance(value, str) and not value.strip():
        raise ValueError("empty")
    if name == "device" and isinstance(value, int) and value < 0:
        raise ValueError("a device index is 0 or more (see `drumtimbre devices`)")
    elif name == "channels":
        from realtime.sources import parse_channels
        parse_channels(value)
    elif name == "samplerate" and not MIN_INPUT_RATE <= value <= 768000:
        raise ValueError(f"must be between {MIN_INPUT_RATE} and 768000 Hz")
    elif name == "blocksize" and not 1 <= value <= MAX_BLOCKSIZE:
        raise ValueError(f"must be between 1 and {MAX_BLOCKSIZE} frames")
    elif name == "osc":
        if not value:
            raise ValueError("no destination (leave it out for the default, 127.0.0.1:9000)")
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{item!r}: expected a string HOST:PORT")
            parse_destination(item)
    elif name == "prefix":
        check_prefix(value)
    elif name == "scale":
        one_of(*SCALES)
    elif name == "timetag":
        one_of(*TIMETAGS)
    elif name == "detect_rate":
        one_of("input", "16000", 16000)
    elif name == "early_from":
        one_of("input", "stream")
    elif name == "window" and not 0.0 < value <= MAX_WINDOW_S:
        raise ValueError(f"must be > 0 and <= {MAX_WINDOW_S:g} s (the model sees at most {MAX_WINDOW_S:g} s)")
    elif name == "early_ms" and not 0.0 < value <= 1000.0:
        raise ValueError("must be more than 0 ms (the early window must hold some of the hit) and at most 1000 ms "
                         "(and within the window)")
    elif name == "preroll_ms" and not 0.0 <= value <= MAX_PREROLL_MS:
        raise ValueError(f"must be between 0 and {MAX_PREROLL_MS:g} ms")
    elif name == "group_ms":
        group_ms(value)


def check_command_line(args: argparse.Namespace, names) -> None:
    """ValueError '--NAME VALUE: why' for the first of the options `names` given on the command line whose value
    check_option refuses (an OSC destination's own message names it)."""
    for name in names:
        value = getattr(args, name, None)
        if value is None or name == "onsets":
            continue
        try:
            check_option(name, value)
        except ValueError as exc:
            raise ValueError(str(exc) if name == "osc" else f"--{name.replace('_', '-')} {value!r}: {exc}") from None


def merge(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    """Final settings: command line (when given) > config file > defaults."""
    settings: dict[str, Any] = {}
    for name, (_, default) in LISTEN_OPTIONS.items():
        cli = getattr(args, name, None)
        if cli is not None:
            settings[name] = cli
        elif name in config:
            settings[name] = config[name]
        else:
            settings[name] = default
    return settings


def check_windows(settings: dict[str, Any], args: argparse.Namespace, config: dict[str, Any],
                  config_path: str | None) -> None:
    """ValueError naming where each value came from (the command line, the config file, the default) when the
    early window is longer than the window, or the window no longer than its pre-roll (each in range alone)."""
    from realtime.windows import window_conflict

    def told(name: str, unit: str) -> str:
        where = ("on the command line" if getattr(args, name, None) is not None
                 else f"in {config_path}" if name in config else "by default")
        return f"{name} {settings[name]:g} {unit} ({where})"

    conflict = window_conflict(float(settings["window"]), float(settings["early_ms"]), float(settings["preroll_ms"]))
    if conflict == "early_ms":
        raise ValueError(f"{told('early_ms', 'ms')} is longer than the {told('window', 's')}: the early estimate "
                         "sees part of the window; shorten early_ms or lengthen the window")
    if conflict == "preroll_ms":
        raise ValueError(f"{told('window', 's')} is no longer than the {told('preroll_ms', 'ms')}: the window "
                         "would end before the onset and hold none of the hit")


def onset_params(table: dict | None):
    """The config file's [onsets] table -> OnsetParams (None: no table); ValueError naming the key for an
    unknown key, a value of the wrong type (a whole number where the field counts something, a number where
    it measures; a boolean only for a switch) or out of its range."""
    if not table:
        return None
    import dataclasses

    from realtime.onsets import OnsetParams

    fields = {f.name: f.default for f in dataclasses.fields(OnsetParams)}
    for key, value in table.items():
        if key not in fields:
            raise ValueError(f"[onsets] table: unknown key {key!r} (known: {', '.join(fields)})")
        if isinstance(fields[key], bool):
            if not isinstance(value, bool):
                raise ValueError(f"[onsets] table: {key} = {value!r}: expected true or false")
            continue
        whole = isinstance(fields[key], int)
        ok = (isinstance(value, int) if whole else isinstance(value, (int, float))) and not isinstance(value, bool)
        if not ok:
            raise ValueError(f"[onsets] table: {key} = {value!r}: expected {'a whole number' if whole else 'a number'}")
    return OnsetParams(**table)


def group_ms(value: str | float | None) -> float | None:
    """--group-ms / group_ms: 'auto' -> None, else a number of ms in 0..1000 (ValueError otherwise)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"group {value!r}: expected a number of ms or 'auto'") from None
    if not 0.0 <= ms <= 1000.0:
        raise ValueError(f"group {value!r} ms: must be between 0 and 1000 ms, or 'auto'")
    return ms


def build_engine_config(settings: dict) -> EngineConfig:
    """Settings (merge's) -> EngineConfig (OnsetParams from the [onsets] table)."""
    from realtime.engine import EngineConfig

    params = onset_params(settings.get("onsets"))
    return EngineConfig(window_s=float(settings["window"]), early_ms=float(settings["early_ms"]),
                        preroll_ms=float(settings["preroll_ms"]), detect_rate=str(settings["detect_rate"]),
                        early_from=str(settings["early_from"]), onset_params=params,
                        ring_subtraction=settings["ring_subtraction"],
                        group_ms=group_ms(settings.get("group_ms")))
