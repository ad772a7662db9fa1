"""Every Python example in README.md runs, for real, against loopback servers.

The provider quickstarts are plain SDK code; the official SDKs read their
base URL from the environment, which we point at ``FakeServer`` on
127.0.0.1, so the examples send real requests and parse real responses.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest

from fakeserver import FakeServer

README = pathlib.Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_examples_we_promise() -> None:
    text = README.read_text()
    for needle in ("uv run --no-dev python -m stableprefix.benchmark", "uv run pytest",
                   "PromptManager(", "functional as F", "anthropic.Anthropic()",
                   "client.responses.create", "genai.Client()", "TransformersAdapter"):
        assert needle in text, f"README lost its {needle!r} example"
    assert len(BLOCKS) >= 7


@pytest.fixture
def provider_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    with FakeServer() as server:
        for var in ("OPENAI", "ANTHROPIC"):
            monkeypatch.setenv(f"{var}_BASE_URL", server.url + "/v1")
            monkeypatch.setenv(f"{var}_API_KEY", "test-key")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
        monkeypatch.setenv("GEMINI_API_KEY", "test-key")
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        yield server


@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(index: int, provider_env: FakeServer,
                             request: pytest.FixtureRequest) -> None:
    namespace: dict[str, Any] = {"__name__": f"readme_block_{index}"}
    if "STABLEPREFIX_STORE" in BLOCKS[index] or "stores.from_url()" in BLOCKS[index]:
        redis_url = request.getfixturevalue("redis_url")  # the real loopback redis-server
        request.getfixturevalue("monkeypatch").setenv("STABLEPREFIX_STORE", redis_url)
    exec(compile(BLOCKS[index], f"README.md:block{index}", "exec"), namespace)
    if "run_local" in namespace:  # with SmolLM2's real tokenizer and chat template
        namespace["run_local"](request.getfixturevalue("tok"))
    if any(k in BLOCKS[index] for k in (".create(", "generate_content(")):
        assert provider_env.requests, "the example should have called the provider"
