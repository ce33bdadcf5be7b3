"""HTTP plumbing: routing, auth, rate-limit buckets, scripted failures, multipart bodies."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.discord.limits import (
    _BODY,
    _FILES,
    API_PREFIX,
)
from tests.fakes.discord.state import (
    _Bucket,
    _Failure,
)
from tests.fakes.discord.wire import (
    ApiError,
    RecordedFile,
    RecordedRequest,
)


class HttpPlumbing:
    """HTTP plumbing: routing, auth, rate-limit buckets, scripted failures, multipart bodies (a part of ``DiscordFake``)."""

    # ------------------------------------------------------------ HTTP plumbing

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py parses JSON only when the content type is exactly "application/json"
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if status == 204:
            return web.Response(status=204, headers={k: v for k, v in hdrs.items() if k != "Content-Type"})
        return web.Response(status=status, body=json.dumps(body).encode(), headers=hdrs)

    def _bucket_for(self, route: str, request: web.Request) -> tuple[str, _Bucket]:
        major = request.match_info.get("channel_id") or request.match_info.get("guild_id") or ""
        if route == "POST /channels/{channel_id}/messages":
            limit, per = self.message_rate
        elif route.startswith("POST /interactions") or "/webhooks/" in route:
            limit, per = 50, 1.0
        else:
            limit, per = 50, 1.0
        key = f"{route}:{major}"
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(limit, per)
        return hashlib.sha1(route.encode()).hexdigest()[:16], bucket

    def _ratelimit_headers(self, bucket_hash: str, bucket: _Bucket, now: float) -> dict[str, str]:
        reset_after = max(0.0, bucket.reset_at - now)
        return {
            "X-RateLimit-Bucket": bucket_hash,
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - bucket.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }

    @staticmethod
    def _rate_limited(
        retry_after: float, *, is_global: bool, scope: str, headers: dict[str, str]
    ) -> web.Response:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        hdrs = {
            "Content-Type": "application/json",
            "Retry-After": str(max(1, int(retry_after + 0.999))),
            "X-RateLimit-Scope": scope,
            "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
            **headers,
        }
        if is_global:
            hdrs["X-RateLimit-Global"] = "true"
        return web.Response(status=429, body=json.dumps(body).encode(), headers=hdrs)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path.startswith("/gateway") or request.path.startswith("/attachments/"):
            return await handler(request)  # type: ignore[no-any-return]
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        route = template[len(API_PREFIX) :] if template.startswith(API_PREFIX) else template
        body, files = await self._read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            route=route,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            files=files,
            at=time.monotonic(),
        )
        self.requests.append(rec)
        request[_BODY] = body
        request[_FILES] = files
        key = f"{request.method} {route}"
        now = time.monotonic()
        bucket_hash, bucket = self._bucket_for(key, request)
        if now >= bucket.reset_at:
            bucket.reset_at, bucket.used = now + bucket.per, 0
        try:
            failure = self._match_failure(key, request)
            if failure is not None:
                if failure.status == 429:
                    hdrs = self._ratelimit_headers(bucket_hash, bucket, now)
                    hdrs["X-RateLimit-Remaining"] = "0"
                    hdrs["X-RateLimit-Reset-After"] = f"{failure.retry_after:.3f}"
                    resp: web.Response = self._rate_limited(
                        failure.retry_after, is_global=failure.is_global, scope=failure.scope, headers=hdrs
                    )
                else:
                    resp = self._json(failure.status, {"message": failure.message, "code": failure.code})
            elif not self._authorised(request, route):
                resp = self._json(401, {"message": "401: Unauthorized", "code": 0})
            elif bucket.used >= bucket.limit:
                hdrs = self._ratelimit_headers(bucket_hash, bucket, now)
                resp = self._rate_limited(bucket.reset_at - now, is_global=False, scope="user", headers=hdrs)
            else:
                bucket.used += 1
                try:
                    resp = await handler(request)
                except ApiError as err:
                    resp = self._json(err.status, err.body(), err.headers)
                resp.headers.update(self._ratelimit_headers(bucket_hash, bucket, now))
        except BaseException:
            await self._notify()
            raise
        rec.status = resp.status
        if resp.body is not None and resp.content_type == "application/json":
            with contextlib.suppress(ValueError, TypeError):
                rec.response = json.loads(resp.body)  # type: ignore[arg-type]
        await self._notify()
        return resp

    def _authorised(self, request: web.Request, route: str) -> bool:
        if route.startswith(("/interactions/", "/webhooks/")):
            return True  # authorised by the interaction token in the path
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _match_failure(self, key: str, request: web.Request) -> _Failure | None:
        for f in self._failures:
            if f.times <= 0 or f.route != key:
                continue
            if f.channel_id is not None and request.match_info.get("channel_id") != str(f.channel_id):
                continue
            f.times -= 1
            return f
        return None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    files.append(
                        RecordedFile(
                            field=part.name or "",  # type: ignore[union-attr]
                            filename=part.filename or "",  # type: ignore[union-attr]
                            data=bytes(data),
                            content_type=part.headers.get("Content-Type", ""),  # type: ignore[union-attr]
                        )
                    )
            return body, files
        raw = await request.read()
        if not raw:
            return None, files
        if request.content_type != "application/json":
            return raw.decode("utf-8", "replace"), files
        try:
            return json.loads(raw), files
        except ValueError:
            return raw.decode("utf-8", "replace"), files

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._json(404, {"message": "404: Not Found", "code": 0})
