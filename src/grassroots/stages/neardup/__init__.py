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
  threshold.
Memory per task: one band (2 bytes) + hash (32 bytes) per image, or the members
of its clusters; every task reads the ledgers and embeddings once.

``neardup`` (one task) joins the pairs into clusters (union-find over the
images that have a pair), chooses each cluster's representative (highest CLIP
score, then smallest key) and writes attributes/neardup/NNNNN.parquet for every
shard: key, neardup_cluster (the representative's key), neardup_size,
neardup_representative (true for images without near-duplicates too).
"""

from grassroots.stages.neardup.clusters import NearDup
from grassroots.stages.neardup.pairs import NearDupConfig, NearDupPairs

__all__ = ["NearDup", "NearDupConfig", "NearDupPairs"]
