"""The HTTP ceiling: a bare Litestar app that answers 202 to POST /ingest/{token}.

It runs under exactly the uvicorn settings of ``gethook serve`` (gethook_lite/cli.py) and
reads the body like the real ingest handler, but stores nothing: whatever the gateway does
beyond this is the cost of ingest.

    python benchmarks/bare_app.py --port 9001
"""

from __future__ import annotations

import argparse

import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath

from gethook_lite.config import load_settings
from gethook_lite.server import uvicorn_config

_ANSWER = {"data": {"id": "evt_01jd8x0000000000000000000000", "status": "accepted"}}


@post("/ingest/{token:str}", status_code=202)
async def ingest(request: Request, token: FromPath[str]) -> Response:
    await request.body()
    return Response(_ANSWER, status_code=202)


@get("/readyz")
async def readyz() -> dict:
    return {"data": {"status": "ok"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = Litestar(
        route_handlers=[ingest, readyz],
        openapi_config=OpenAPIConfig(title="bare", version="0", path="/openapi"),
        request_max_body_size=1_048_576,
        debug=False,
        logging_config=None,
    )
    # The same settings as `gethook serve` (its protocol with the request bounds included).
    settings = load_settings(overrides={"server.host": "127.0.0.1", "server.port": args.port})
    config = uvicorn_config(settings, app)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
