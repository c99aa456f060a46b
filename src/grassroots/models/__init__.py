"""Models through open_clip: loading (local checkpoints, or pretrained tags where
the machine can reach a hub), the model's identity, device and precision choice,
and encoding. Used by embed (and later train and eval).

Architectures are open_clip's, plus the project's own configs in configs/
(``grassroots-tiny``: a CLIP small enough to train and test on a laptop CPU).
"""
