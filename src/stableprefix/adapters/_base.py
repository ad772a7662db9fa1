"""The adapter contract, as adapter modules import it.

The contract itself lives in the core (``stableprefix._adapter``) so that the
core never imports this package; adapter modules import it from here.
"""

from .._adapter import (
    Message,
    ProviderAdapter,
    RequestParts,
    TextCounter,
    check_token_counter,
    vars_of,
)

__all__ = [
    "Message",
    "ProviderAdapter",
    "RequestParts",
    "TextCounter",
    "check_token_counter",
    "vars_of",
]
