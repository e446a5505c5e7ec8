"""Write a tiny random-weight llama-architecture GGUF (SPM byte-fallback vocab).

A copy of the shared tools' make_tiny_gguf.py (../shared/tools/), kept here so that
`python3 scripts/dev.py interop` runs from any clone. No download: every weight is drawn
from a seeded numpy RNG. Word tokens are biased (through one always-large residual
dimension) so that random sampling mostly emits readable words rather than raw bytes.
Usage: python make_tiny_gguf.py OUT.gguf (needs numpy and gguf).
"""

import sys

import gguf
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "tiny-random-llama.gguf"
rng = np.random.default_rng(1234)

WORDS = [
    "the",
    "cat",
    "dog",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "ran",
    "to",
    "hello",
    "world",
    "this",
    "is",
    "tiny",
    "model",
    "random",
    "text",
    "from",
    "g4f",
    "core",
    "test",
    "stream",
    "chunk",
    "reply",
    "ok",
    "yes",
    "no",
    "maybe",
    "blue",
    "red",
    "green",
    "sky",
    "sea",
    "sun",
    "moon",
    "star",
    "tree",
    "house",
    "car",
    "road",
    "city",
    "river",
    "hill",
    "book",
    "page",
    "word",
    "line",
    "code",
    "data",
    "time",
    "day",
    "night",
    "light",
    "dark",
    "fast",
    "slow",
    "big",
    "small",
    "good",
    "bad",
]

tokens, scores, types = [], [], []


def add(tok, score, ttype):
    tokens.append(tok.encode("utf-8"))
    scores.append(score)
    types.append(ttype)


add("<unk>", 0.0, gguf.TokenType.UNKNOWN)
add("<s>", 0.0, gguf.TokenType.CONTROL)
add("</s>", 0.0, gguf.TokenType.CONTROL)
for b in range(256):
    add(f"<0x{b:02X}>", 0.0, gguf.TokenType.BYTE)
first_word = len(tokens)
for i, w in enumerate(WORDS):
    add("\u2581" + w, -float(i), gguf.TokenType.NORMAL)
for i, w in enumerate(WORDS):
    add(w, -100.0 - i, gguf.TokenType.NORMAL)
add("\u2581", -300.0, gguf.TokenType.NORMAL)
for c in ".,!?":
    add(c, -301.0, gguf.TokenType.NORMAL)
n_vocab = len(tokens)

n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx = 64, 2, 4, 4, 128, 2048
head_dim = n_embd // n_head

w = gguf.GGUFWriter(out, "llama")
w.add_name("tiny-random-llama")
w.add_context_length(n_ctx)
w.add_embedding_length(n_embd)
w.add_block_count(n_layer)
w.add_feed_forward_length(n_ff)
w.add_head_count(n_head)
w.add_head_count_kv(n_head_kv)
w.add_rope_dimension_count(head_dim)
w.add_layer_norm_rms_eps(1e-5)
w.add_vocab_size(n_vocab)
w.add_file_type(gguf.LlamaFileType.ALL_F32)
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.add_add_bos_token(True)
w.add_add_eos_token(False)
w.add_chat_template(
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def r(*shape, s=0.02):
    return (rng.standard_normal(shape) * s).astype(np.float32)


emb = r(n_vocab, n_embd, s=0.5)
emb[:, 0] = 10.0  # a constant, always-large residual dimension
w.add_tensor("token_embd.weight", emb)
for i in range(n_layer):
    w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, np.float32))
    w.add_tensor(f"blk.{i}.attn_q.weight", r(n_embd, n_embd))
    w.add_tensor(f"blk.{i}.attn_k.weight", r(n_head_kv * head_dim, n_embd))
    w.add_tensor(f"blk.{i}.attn_v.weight", r(n_head_kv * head_dim, n_embd))
    w.add_tensor(f"blk.{i}.attn_output.weight", r(n_embd, n_embd))
    w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, np.float32))
    w.add_tensor(f"blk.{i}.ffn_gate.weight", r(n_ff, n_embd))
    w.add_tensor(f"blk.{i}.ffn_up.weight", r(n_ff, n_embd))
    w.add_tensor(f"blk.{i}.ffn_down.weight", r(n_embd, n_ff))
w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
out_w = r(n_vocab, n_embd, s=1.0)
out_w[:, 0] = -2.0  # bytes, specials: unlikely
out_w[first_word:, 0] = 1.0  # words and punctuation: likely
out_w[2, 0] = -0.3  # </s>: occasionally, so replies end
w.add_tensor("output.weight", out_w)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out, "vocab", n_vocab)
