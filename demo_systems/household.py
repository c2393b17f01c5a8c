"""示例市公安局户籍系统 (demo): a small REST service the hub's REST connector queries by resident id.

Run: `python -m demo_systems.household --port 8101 --records 20000 --api-key demo-household-key`.
It sits on a benchmark path, so everything a request needs is prepared at start-up: the records are
held in a dict and the full record is serialised once; a request does a key check and a dict lookup.
"""

from __future__ import annotations

import argparse
import hmac
import os
import threading
import time

import orjson
from fastapi import FastAPI, Request, Response

from demo_systems.population import DEFAULT_SEED, people

DEFAULT_API_KEY = "demo-household-key"
DEFAULT_RECORDS = 20_000
DEFAULT_PORT = 8101
SERVICE = "demo-household"  # in every health answer: how the hub tells this system from whatever else holds the port
FIELDS = ("resident_id", "name", "gender", "birth_date", "ethnicity", "address", "household_head",
          "relation_to_head", "registered_on")
_JSON = "application/json"
_PROBLEM = "application/problem+json"


class Registry:
    """The household records, by resident id, with each full record already serialised."""

    def __init__(self, n: int, *, seed: int = DEFAULT_SEED) -> None:
        self.records = {p.resident_id: p.record() for p in people(n, seed=seed)}
        self.serialised = {rid: orjson.dumps(record) for rid, record in self.records.items()}

    def lookup(self, resident_id: str, fields: str | None) -> Response:
        """Answer one query: the record (or the listed fields of it), 404 when unknown, 400 for bad fields."""
        if fields is None:
            body = self.serialised.get(resident_id)
            return _problem(404, "not_found", "No resident with this identity number.") if body is None \
                else Response(body, media_type=_JSON)
        wanted = [f.strip() for f in fields.split(",") if f.strip()]
        unknown = [f for f in wanted if f not in FIELDS]
        if unknown or not wanted:
            return _problem(400, "unknown_field", f"Unknown fields: {', '.join(unknown) or '(none given)'}; "
                                                  f"known: {', '.join(FIELDS)}.")
        record = self.records.get(resident_id)
        if record is None:
            return _problem(404, "not_found", "No resident with this identity number.")
        return Response(orjson.dumps({f: record[f] for f in wanted}), media_type=_JSON)


def create_app(*, n: int = DEFAULT_RECORDS, api_key: str = DEFAULT_API_KEY, seed: int = DEFAULT_SEED,
               instance: str | None = None) -> FastAPI:
    """Build the service over the first `n` people of the population, guarded by `api_key`.

    `instance` is echoed in the health answer, so whoever started this process can tell it is this one.
    """
    registry = Registry(n, seed=seed)
    key = api_key.encode("utf-8")
    app = FastAPI(title="示例市公安局户籍系统（演示）", version="1.0")
    app.state.registry = registry
    health = orjson.dumps({"status": "ok", "service": SERVICE, "records": len(registry.records)}
                          | ({"instance": instance} if instance else {}))

    @app.get("/health")
    async def get_health() -> Response:
        return Response(health, media_type=_JSON)

    @app.get("/residents/{resident_id}")
    async def get_resident(resident_id: str, request: Request, fields: str | None = None) -> Response:
        # Header values arrive as latin-1 text; compare bytes in constant time.
        given = request.headers.get("x-api-key", "").encode("latin-1")
        if not hmac.compare_digest(given, key):
            return _problem(401, "unauthorized", "Send a valid X-Api-Key header.")
        return registry.lookup(resident_id, fields)

    return app


def _problem(status: int, code: str, detail: str) -> Response:
    titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
    body = {"type": f"urn:demo:household:{code}", "title": titles[status], "status": status, "detail": detail}
    headers = {"WWW-Authenticate": 'ApiKey header="X-Api-Key"'} if status == 401 else None
    return Response(orjson.dumps(body), status_code=status, media_type=_PROBLEM, headers=headers)


def exit_with_parent(parent: int, *, interval: float = 0.5) -> None:
    """Stop this process once `parent` is gone, so a hub killed outright leaves no orphan behind."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Serve the household registry on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m demo_systems.household", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--instance", help="a value to echo in the health answer")
    parser.add_argument("--parent", type=int, help="exit when the process with this id is no longer the parent")
    args = parser.parse_args(argv)
    import uvicorn  # only the CLI needs it

    if args.parent:
        exit_with_parent(args.parent)
    app = create_app(n=args.records, api_key=args.api_key, seed=args.seed, instance=args.instance)
    print(f"household registry: {args.records} records on http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
