"""Schemathesis hooks for Kruispunt (loaded through SCHEMATHESIS_HOOKS by .ci/schemathesis.sh).

`POST /v1/signals/bulk` takes `application/x-ndjson`: one JSON document per line, each line
described by the operation's schema (`SignalIn`). Schemathesis has no serializer for that media
type, so this one writes a generated value as NDJSON: an object (or any other JSON value, for
the negative cases) as one line, a list as one line per item. Bytes pass unchanged.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")
