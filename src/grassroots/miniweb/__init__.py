"""The mini-web: a local, hostile, rights-annotated web for tests, benchmarks and the demo.

See README.md in this folder for hosts, the URL map, hostile cases and the spec format.
"""

from .hostile import HostileCase
from .scenes import caption_splits, heldout_scenes
from .server import MiniWeb, host_address
from .spec import Spec, load_spec
from .warc import write_warc

__all__ = ["MiniWeb", "HostileCase", "Spec", "caption_splits", "heldout_scenes", "host_address",
           "load_spec", "write_warc"]
