"""img2dataset's flags for ``grassroots download``: LAION users keep their scripts.

``translate(argv)`` rewrites img2dataset's spellings (python-fire style:
``--flag=value``, ``--flag value``, ``--flag True``) into ours before the CLI
parses them, and returns notes for flags that are accepted but mean something
else here. The table is in the README ("img2dataset users").
"""

from __future__ import annotations

import ast

# img2dataset flag -> our flag (values passed through as they are).
RENAMED = {
    "output_folder": "--output",
    "input_format": "--input-format",
    "output_format": "--output-format",
    "url_col": "--url-col",
    "caption_col": "--caption-col",
    "processes_count": "--processes",
    "thread_count": "--concurrency",
    "number_sample_per_shard": "--samples-per-shard",
    "image_size": "--image-size",
    "resize_mode": "--resize-mode",
    "encode_format": "--encode-format",
    "encode_quality": "--encode-quality",
    "min_image_size": "--min-image-size",
    "max_aspect_ratio": "--max-aspect-ratio",
    "timeout": "--timeout",
    "retries": "--retries",
    "user_agent_token": "--user-agent-token",
}
BOOLEANS = {"resize_only_if_bigger": "resize-only-if-bigger", "skip_reencode": "skip-reencode"}
LISTS = {"save_additional_columns", "disallowed_header_directives", "verify_hash"}
SPECIAL = {"url_list", "compute_hash", "incremental_mode", "enable_wandb", "distributor", *LISTS, *BOOLEANS}
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", "none"}


class CompatError(ValueError):
    pass


def _as_list(value: str) -> list[str]:
    """img2dataset lists: '["a","b"]' (python-fire) or 'a,b'."""
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise CompatError(f"cannot read the list {value!r}") from None
        return [str(v) for v in parsed]
    return [v.strip() for v in value.split(",") if v.strip()]


def _split(argv: list[str]) -> list[tuple[str | None, str | None]]:
    """(img2dataset flag name or None, value) pairs; None name = a token kept as it is."""
    out: list[tuple[str | None, str | None]] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        name = tok[2:].split("=", 1)[0] if tok.startswith("--") else ""
        if "_" not in name or (name not in RENAMED and name not in SPECIAL):
            out.append((None, tok))
            i += 1
            continue
        if "=" in tok:
            out.append((name, tok.split("=", 1)[1]))
            i += 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out.append((name, argv[i + 1]))
            i += 2
        else:
            out.append((name, None))  # a bare boolean flag
            i += 1
    return out


def translate(argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv in grassroots' spelling, notes to print). Only ``download`` has aliases."""
    if not argv or argv[0] != "download":
        return argv, []
    args, notes, positional = ["download"], [], None
    for name, value in _split(argv[1:]):
        if name is None:
            args.append(value)
        elif name == "url_list":
            positional = value
        elif name in RENAMED:
            if value is None:
                raise CompatError(f"--{name} needs a value")
            args += [RENAMED[name], value]
        elif name in BOOLEANS:
            on = value is None or value.lower() in _TRUE
            if value is not None and value.lower() not in _TRUE | _FALSE:
                raise CompatError(f"--{name} takes True or False, got {value!r}")
            args.append(f"--{'' if on else 'no-'}{BOOLEANS[name]}")
        elif name == "save_additional_columns":
            args += ["--keep-cols", ",".join(_as_list(value or ""))]
        elif name == "verify_hash":
            col, algo = (_as_list(value or "") + ["", ""])[:2]
            args += ["--verify-hash", f"{col}:{algo or 'sha256'}"]
        elif name == "disallowed_header_directives":
            directives = {d.lower() for d in _as_list(value or "")}
            if not directives & {"noindex", "noimageindex"}:
                args.append("--no-honour-noindex")
            notes.append("--disallowed_header_directives: grassroots always refuses noai/noimageai "
                         "(X-Robots-Tag, meta, and every other opt-out protocol); noindex/noimageindex "
                         f"{'honoured' if directives & {'noindex', 'noimageindex'} else 'not honoured (--no-honour-noindex)'}")
        elif name == "compute_hash":
            algo = (value or "sha256").lower()
            if algo == "md5":
                args.append("--md5")
            elif algo not in ("sha256", "none"):
                notes.append(f"--compute_hash {algo}: not computed; grassroots records sha256 (and md5 with --md5)")
        elif name == "incremental_mode":
            if (value or "incremental").lower() == "overwrite":
                raise CompatError("--incremental_mode overwrite: grassroots never deletes a dataset; "
                                  "write to a new -o directory (or delete the old one yourself)")
            notes.append("--incremental_mode incremental: grassroots always resumes (finished shards are kept)")
        elif name == "enable_wandb":
            notes.append("--enable_wandb: ignored (grassroots writes its stats to manifest.json and _runs/)")
        elif name == "distributor":
            kind = (value or "multiprocessing").lower()
            if kind == "pyspark":
                raise CompatError("--distributor pyspark is not supported: use --runner ray (same shards)")
            args += ["--runner", "ray" if kind == "ray" else "local"]
    if positional is not None:
        args.insert(1, positional)
    return args, notes
