"""The book's table of contents, read from _toc.yml:
used by the tests and by run_notebooks."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_entries() -> list[str]:
    """Every ``file:`` of _toc.yml, the root first, as written there (no extension)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                entries.append(node["file"])
            for key, value in node.items():
                if key != "file":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return entries


def toc_notebooks() -> list[Path]:
    """The notebooks among the entries, in reading order."""
    return [
        ROOT / f"{e}.ipynb" for e in toc_entries() if (ROOT / f"{e}.ipynb").exists()
    ]


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def colab_link(entry: str) -> str:
    """The Colab launch link of a notebook entry (``book/02_patches``),
    from _config.yml."""
    cfg = config()
    url = cfg["repository"]["url"].rstrip("/")
    org_repo = url.split("github.com/")[1]
    book = cfg["repository"].get("path_to_book", "").strip("/")
    path = f"{book}/{entry}.ipynb" if book else f"{entry}.ipynb"
    colab = cfg["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{org_repo}/blob/{cfg['repository']['branch']}/{path}"
