"""grassroots serve: the search API and page of a release."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grassroots.cli.common import command, console


@command()
def serve(
    dataset: Path = typer.Argument(..., help="The dataset directory."),
    release: str = typer.Option("v1", help="The release to search (indexed with `grassroots index`)."),
    embeddings: Optional[str] = typer.Option(None, help="The model id of the index (default: the release's only one)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    max_upload_mb: float = typer.Option(8.0, min=0.01, help="Largest image upload accepted (MB)."),
    safety_threshold: float = typer.Option(0.5, min=0, max=1, help="Hide samples whose safety-head probability is >= this (when safe=true, the default)."),
    optout_per_hour: int = typer.Option(30, min=1, help="Opt-out requests one client may file per hour."),
    model: bool = typer.Option(True, help="Load the release's model for text and image queries (--no-model: vector queries only)."),
) -> None:
    """Search API + page for a release: text/image search, find my work, opt-out requests."""
    from grassroots.serve.app import create_app
    from grassroots.serve.config import ServeConfig

    import uvicorn

    config = ServeConfig(str(dataset), release, embeddings, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                         safety_threshold=safety_threshold, optout_per_window=optout_per_hour,
                         optout_window_seconds=3600.0, load_model=model)
    app_ = create_app(config)
    console.print(f"serving {dataset}/releases/{release} on http://{host}:{port}/", highlight=False)
    uvicorn.run(app_, host=host, port=port, log_level="warning")
