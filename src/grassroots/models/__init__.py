"""The model library (open_clip's ``open_clip`` to the applications' ``open_clip_train``):
loading through open_clip (local checkpoints, or pretrained tags where the machine
can reach a hub), the model's identity, device and precision choice, pixels, and
encoding; safety heads' format and inference (head.py). Used by embed, score,
eval, serve and train; training anything is an application (grassroots.train).

Architectures are open_clip's, plus the project's own configs in configs/
(``grassroots-tiny``: a CLIP small enough to train and test on a laptop CPU).
"""
