"""A stand-in for `prefect.blocks.system.Secret`: blocks come from the JSON object in the
environment variable PREFECT_STUB_SECRETS (name -> value), as a Prefect server would hold them.
Every load is recorded in LOADS."""

import json
import os

LOADS = []


class Secret:
    def __init__(self, value):
        self._value = value

    @classmethod
    def load(cls, name):
        LOADS.append(name)
        blocks = json.loads(os.environ.get("PREFECT_STUB_SECRETS", "{}"))
        if name not in blocks:
            raise ValueError(f"Unable to find block document named {name} for block type secret")
        return cls(blocks[name])

    def get(self):
        return self._value
