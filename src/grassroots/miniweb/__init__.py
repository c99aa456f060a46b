"""The mini-web: a local, hostile, rights-annotated web for tests, benchmarks and the demo.

See README.md in this folder for hosts, the URL map, hostile cases and the spec format.
The names below are imported on first use, so the CLI (which registers the
``miniweb`` commands at start-up) does not pay for the server and its HTTP client.
"""

import importlib

_WHERE = {"HostileCase": "hostile", "caption_splits": "scenes", "heldout_scenes": "scenes", "MiniWeb": "server",
          "host_address": "server", "Spec": "spec", "load_spec": "spec", "write_warc": "warc"}

__all__ = ["MiniWeb", "HostileCase", "Spec", "caption_splits", "heldout_scenes", "host_address",
           "load_spec", "write_warc"]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
