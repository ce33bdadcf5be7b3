"""Block Kit limits and validation as Slack applies them (``invalid_blocks`` with json pointers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# ---------------------------------------------------------------- Block Kit limits

MAX_BLOCKS = 50
MAX_TEXT = 40_000
SECTION_TEXT = 3_000
FIELD_TEXT = 2_000
MAX_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
BLOCK_ID = 255

_TEXT_KEYS = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}


def validate_blocks(blocks: Any, *, pointer: str = "/blocks") -> list[str]:
    """Slack's Block Kit checks for message blocks; returns Slack-style error strings (empty: valid)."""
    errors: list[str] = []

    def err(msg: str, where: str) -> None:
        errors.append(f"{msg} [json-pointer:{where}]")

    def text_obj(
        obj: Any, where: str, *, limit: int, kinds: Iterable[str] = ("plain_text", "mrkdwn")
    ) -> None:
        if not isinstance(obj, dict):
            err("must be an object", where)
            return
        kind = obj.get("type")
        if kind not in kinds:
            err(f"must be one of {', '.join(kinds)}", f"{where}/type")
            return
        extra = set(obj) - _TEXT_KEYS[kind]
        for key in sorted(extra):
            err("is not a valid property", f"{where}/{key}")
        text = obj.get("text")
        if not isinstance(text, str):
            err("must be a string", f"{where}/text")
        elif len(text) == 0:
            err("must be more than 0 characters", f"{where}/text")
        elif len(text) > limit:
            err(f"must be less than {limit + 1} characters", f"{where}/text")

    if not isinstance(blocks, list):
        err("must be an array", pointer)
        return errors
    if len(blocks) > MAX_BLOCKS:
        err(f"must be less than {MAX_BLOCKS + 1} items", pointer)
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict):
            err("must be an object", where)
            continue
        bid = block.get("block_id")
        if bid is not None and (not isinstance(bid, str) or len(bid) > BLOCK_ID):
            err(f"must be less than {BLOCK_ID + 1} characters", f"{where}/block_id")
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                err("must provide either text or fields", where)
            if "text" in block:
                text_obj(block["text"], f"{where}/text", limit=SECTION_TEXT)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    err("must be a non-empty array", f"{where}/fields")
                else:
                    if len(fields) > MAX_FIELDS:
                        err(f"must be less than {MAX_FIELDS + 1} items", f"{where}/fields")
                    for j, f in enumerate(fields):
                        text_obj(f, f"{where}/fields/{j}", limit=FIELD_TEXT)
            for key in sorted(set(block) - {"type", "text", "fields", "block_id", "accessory", "expand"}):
                err("is not a valid property", f"{where}/{key}")
        elif kind == "header":
            text_obj(block.get("text"), f"{where}/text", limit=HEADER_TEXT, kinds=("plain_text",))
            for key in sorted(set(block) - {"type", "text", "block_id"}):
                err("is not a valid property", f"{where}/{key}")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                err("must be a non-empty array", f"{where}/elements")
                continue
            if len(elements) > CONTEXT_ELEMENTS:
                err(f"must be less than {CONTEXT_ELEMENTS + 1} items", f"{where}/elements")
            for j, el in enumerate(elements):
                if isinstance(el, dict) and el.get("type") == "image":
                    if not el.get("image_url") or not el.get("alt_text"):
                        err("image elements need image_url and alt_text", f"{where}/elements/{j}")
                else:
                    text_obj(el, f"{where}/elements/{j}", limit=SECTION_TEXT)
        elif kind == "divider":
            for key in sorted(set(block) - {"type", "block_id"}):
                err("is not a valid property", f"{where}/{key}")
        elif kind == "image":
            url = block.get("image_url")
            if not isinstance(url, str) or not url or len(url) > 3000:
                err("must be a URL of at most 3000 characters", f"{where}/image_url")
            alt = block.get("alt_text")
            if not isinstance(alt, str) or not alt or len(alt) > 2000:
                err("must be 1 to 2000 characters", f"{where}/alt_text")
            if "title" in block:
                text_obj(block["title"], f"{where}/title", limit=2000, kinds=("plain_text",))
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements or len(elements) > 25:
                err("must be an array of 1 to 25 elements", f"{where}/elements")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") == "button":
                        text_obj(
                            el.get("text"), f"{where}/elements/{j}/text", limit=75, kinds=("plain_text",)
                        )
                        url = el.get("url")
                        if url is not None and (not isinstance(url, str) or len(url) > 3000):
                            err("must be at most 3000 characters", f"{where}/elements/{j}/url")
        elif kind == "markdown":
            t = block.get("text")
            if not isinstance(t, str) or not t or len(t) > 12_000:
                err("must be 1 to 12000 characters", f"{where}/text")
        elif kind in ("rich_text", "file", "input", "video"):
            pass
        else:
            err("must be a valid enum value", f"{where}/type")
    return errors
