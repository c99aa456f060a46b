"""neardup: clusters of near-duplicate images across the whole dataset.

Two steps, one module each (pairs.py, clusters.py). ``neardup-pairs`` finds candidate pairs, split into N partitions that
run as separate tasks (Ray spreads them):
- PDQ (from the ledger): the 256 bits are cut into 16 bands of 16 bits; two
  hashes within Hamming distance 15 share at least one band exactly (pigeonhole),
  and most pairs up to the threshold do. Partition p handles bands b with
  b % N == p: it groups the hashes by band value and checks the Hamming distance
  of each group's pairs. Flat images (PDQ quality < 50) are left out: their
  hashes say nothing.
- Embeddings: an inverted file. k-means centroids are fitted once on a sample
  (plan); every image embedding goes to its 2 nearest centroids; partition p
  handles the clusters c with c % N == p and compares the members of each
  cluster exactly (blocked matrix products), keeping pairs with cosine >= the
  threshold. Before that, plan measures the model on the same sample (spread.py:
  random pairs and nearest neighbours): when more than 1% of random pairs pass
  the threshold, it tells no copies from unrelated images (a weak model: a
  random-weights one, or our own after a minute of training), so the embedding
  pairs are left out for that model, PDQ only; the console says so and
  attributes/neardup/model.json records the spread and the verdict.
Memory per task: one band (2 bytes) + hash (32 bytes) per image, or the members
of its clusters; every task reads the ledgers and embeddings once.

``neardup`` (one task) groups the pairs into star clusters, never chains: images
are taken by (CLIP score desc, key asc); one not yet in a cluster becomes a
representative and takes every image it has a pair with (PDQ or cosine) that is
not yet in one. So every member is a near-duplicate of its representative itself,
and the result does not depend on the order pairs or shards are read in. It writes
attributes/neardup/NNNNN.parquet for every shard: key, neardup_cluster (the
representative's key), neardup_size, neardup_representative (true for images
without near-duplicates too). A cluster of more than max(50, 0.5% of the rows) is
reported on the console with its size and the advice to raise the threshold.
"""

from grassroots.stages.neardup.clusters import NearDup
from grassroots.stages.neardup.pairs import NearDupConfig, NearDupPairs

__all__ = ["NearDup", "NearDupConfig", "NearDupPairs"]
