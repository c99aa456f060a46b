"""``grassroots miniweb serve|warc|truth|spec``: run the mini-web or write it as a WARC."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="A local, hostile, rights-annotated web for tests, benchmarks and the demo.", rich_markup_mode=None,
                  no_args_is_help=True)

_SEED = typer.Option(0, "--seed", help="Content seed: same seed, same bytes.")
_SPEC = typer.Option(None, "--spec", help="Rights spec TOML file (default: built-in).")
_IMAGES = typer.Option(None, "--images", help="Serve a real corpus from this folder (with --captions).")
_CAPTIONS = typer.Option(None, "--captions", help="CSV with path,caption,creator,license columns.")
_HOSTILE = typer.Option(True, "--hostile/--no-hostile", help="Include the hostile pages.")


def _check_corpus(images: Optional[Path], captions: Optional[Path]) -> None:
    if images is not None and captions is None:
        raise typer.BadParameter("--images needs --captions")


@app.command()
def serve(
    port: int = typer.Option(8080, "--port", help="One port for all hosts (0: any free port)."),
    hosts: int = typer.Option(8, "--hosts", help="Number of content hosts (127.0.0.2 ...)."),
    seed: int = _SEED,
    spec: Optional[Path] = _SPEC,
    images: Optional[Path] = _IMAGES,
    captions: Optional[Path] = _CAPTIONS,
    hostile: bool = _HOSTILE,
) -> None:
    """Serve the mini-web until Ctrl-C or SIGTERM."""
    from .server import MiniWeb

    _check_corpus(images, captions)
    stop = threading.Event()
    web = MiniWeb(seed=seed, hosts=hosts, port=port, spec=spec, hostile=hostile,
                  images_dir=images, captions_csv=captions)
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with web:
            typer.echo(f"control {web.control_url}  (truth: {web.control_url}/_truth.json)")
            for url in web.base_urls:
                typer.echo(url)
            typer.echo(f"{len(web.page_urls())} pages, {len(web.image_urls())} images; Ctrl-C stops", err=True)
            while not stop.wait(0.2):
                pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    typer.echo("stopped", err=True)


@app.command()
def warc(
    out: Path = typer.Option(..., "-o", "--out", help="Output .warc.gz path."),
    wat: bool = typer.Option(False, "--wat", help="Also write the WAT (<out>.warc.wat.gz)."),
    port: int = typer.Option(8080, "--port", help="Port the server will answer on."),
    hosts: int = typer.Option(8, "--hosts"),
    base_url: Optional[list[str]] = typer.Option(None, "--base-url", help="Explicit base URLs (repeat)."),
    heavy_pages: int = typer.Option(0, "--heavy-pages", help="Add N heavy 50-150 KB pages (benchmarks)."),
    seed: int = _SEED,
    spec: Optional[Path] = _SPEC,
    images: Optional[Path] = _IMAGES,
    captions: Optional[Path] = _CAPTIONS,
    hostile: bool = _HOSTILE,
) -> None:
    """Write the pages as a Common-Crawl-style WARC for the server at those URLs."""
    from .server import host_address
    from .spec import load_spec
    from .warc import write_warc

    _check_corpus(images, captions)
    urls = base_url or [f"http://{host_address(i)}:{port}" for i in range(hosts)]
    result = write_warc(out, urls, seed=seed, pages=heavy_pages, heavy=heavy_pages > 0, wat=wat,
                        spec=load_spec(spec), hostile=hostile, images_dir=images, captions_csv=captions)
    typer.echo(json.dumps(result))


@app.command()
def truth(
    port: int = typer.Option(8080, "--port"),
    hosts: int = typer.Option(8, "--hosts"),
    seed: int = _SEED,
    spec: Optional[Path] = _SPEC,
    hostile: bool = _HOSTILE,
) -> None:
    """Print the ground truth (JSON lines) for a mini-web on that port, without serving."""
    from .server import host_address
    from .site import Site
    from .spec import load_spec
    from .truth import truth_rows

    site = Site([f"http://{host_address(i)}:{port}" for i in range(hosts)], seed, load_spec(spec),
                hostile_pages=hostile)
    for row in truth_rows(site):
        typer.echo(json.dumps(row))


@app.command()
def heldout(
    out: Path = typer.Option(..., "-o", "--out", help="Folder to write: one subfolder per (colour, shape) class."),
    per_class: int = typer.Option(20, "--per-class", min=1, help="Images per class that gets images."),
    pairs: str = typer.Option("held-out", "--pairs", help="held-out: images of the pairs the mini-web never shows "
                              "(the other classes stay empty but still compete); all: images of every pair."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scenes (independent of the mini-web's content seed)."),
    side: int = typer.Option(128, "--side", min=16, help="Image side in pixels."),
) -> None:
    """Write a zero-shot eval set of scenes: all 32 (colour, shape) pairs as classes (chance ~3%)."""
    from .heldout import Pairs, write_heldout

    if pairs not in {p.value for p in Pairs}:
        raise typer.BadParameter(f"{pairs!r}: use held-out or all", param_hint="--pairs")
    folder = write_heldout(str(out), per_class=per_class, seed=seed, pairs=Pairs(pairs), side=side)
    typer.echo(f"wrote {folder}: grassroots eval CHECKPOINT --model ARCH --zeroshot {folder} -o results.json")


@app.command("spec")
def show_spec() -> None:
    """Print the built-in rights spec (a starting point for --spec files)."""
    from .default_spec import DEFAULT_SPEC_TOML

    typer.echo(DEFAULT_SPEC_TOML.strip())
