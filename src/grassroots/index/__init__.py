"""The vector index of a release: ``releases/vN/index/<model-id>/``.

On-disk format (``FORMAT`` = 1), everything a searcher or the takedown step needs:

    index.json    what it is: format, model_id, dim, count, kind ("flat" | "ivf"),
                  exact_max (the setting the kind was chosen by: a takedown rebuilds with it),
                  params (codec "flat" | "sq8u", transform, nlist, nprobe, rerank, target_recall,
                  the calibration: every nprobe tried with its recall), heads, built_at,
                  source (the release's embedding shards with sizes: a changed release rebuilds)
    items.arrow   Arrow IPC file (uncompressed; memory-mapped by the loader), one row per
                  indexed sample. Columns: id (int64, the faiss id, ascending), key, shard, row
                  (row of releases/vN/shards/NNNNN.parquet), emb_row (row of the shard's
                  embeddings/<model-id>/{img,txt}/NNNNN.npy), caption, url, page_url, domain,
                  license, sha256, pdq (fixed_size_binary(32) or null), image_offset /
                  image_size (byte range of the image in shards/NNNNN.tar, null when not a tar),
                  image_ext, neardup_cluster, and one float32 column per safety head.
    img.faiss     faiss index of the image embeddings (inner product on L2-normalised vectors)
    txt.faiss     the same for caption embeddings
                  Both hold explicit ids (IndexIDMap2 over IndexFlatIP, or a random rotation
                  (IndexPreTransform) over IndexIVFScalarQuantizer with add_with_ids; indexes of
                  older builds without the rotation, plain SQ8, still load): removing ids never
                  renumbers the others.

Exact search (``flat``) up to ``EXACT_MAX`` vectors; beyond, an inverted file
(``ivf``: a random rotation, then sqrt(N) lists of 8-bit codes of one range for
every dimension, ``sq8u``: ~1.5x faster to scan than per-dimension SQ8, the same
recall once re-ranked) trained on a sample of at most ``TRAIN_MAX`` vectors and
filled shard by shard (memory: the codes, 1 byte per dimension, plus the sample),
with ``nprobe`` the smallest step of a fine grid whose re-ranked recall@10 against
exact search reaches 0.97 on a calibration sample; its ``rerank`` * k candidates are re-ranked by
exact cosine from the release's (memory-mapped) embeddings, so scores are exact. A hit resolves to its sample in O(1): id ->
items row (the id column is ascending: a binary search, or the identity when no
id was removed) -> (shard, row, tar byte range).

Entry points: ``build_index(release_dir)`` writes it (the ``index`` step calls it;
``exclude_keys`` leaves samples out), ``load_index(release_dir)`` reads it,
``remove_keys(IndexDir, keys)`` deletes samples from an existing index in place
(each file rewritten atomically, index.json last).
"""

from grassroots.index.build import EXACT_MAX, FORMAT, TRAIN_MAX, build_index, remove_keys
from grassroots.index.load import Hit, ReleaseIndex, load_index

__all__ = ["EXACT_MAX", "FORMAT", "TRAIN_MAX", "Hit", "ReleaseIndex", "build_index", "load_index", "remove_keys"]
