"""Training a CLIP model on a release: ``recipes`` (named configs), ``data`` (our
webdataset shards as a deterministic, resumable sample order) and ``loop`` (the
training loop, read top to bottom). Checkpoints are open_clip's format. ``head``:
training a safety head on a dataset's embeddings (``grassroots train-head``)."""
