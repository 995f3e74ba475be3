#!/usr/bin/env python3
"""Builds the Hugging Face folder fixtures under fixtures/pretrained/ with `transformers`.

Small random models saved as `save_pretrained` writes them, with real tokenizer files made from the
vocabularies of fixtures/tokenizers/ (WordPiece for BERT, byte-level BPE for GPT-2 and RoBERTa),
in the shapes a user's folder comes in:

    bert-f32        BertForMaskedLM (no pooler, `cls.predictions.*` to ignore), F32, tokenizer.json
    bert-f16        the same weights in F16, tokenizer from vocab.txt + tokenizer_config.json only
    bert-bf16       the same weights in BF16, tokenizer.json
    bert-sharded    the same weights, F32, in several shards + model.safetensors.index.json
    gpt2-f32        GPT2LMHeadModel (tied lm_head), F32, tokenizer.json
    roberta-f32     RobertaModel (no `roberta.` prefix, a pooler to ignore), F32, tokenizer from
                    vocab.json + merges.txt + tokenizer_config.json only

Each folder gets `expected.json`: the texts, `AutoTokenizer`'s ids (truncation to max_length),
the classification head `AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)`
created (our tensor names: GPT-2's `score.weight`, BERT's pooler and classifier, RoBERTa's
classifier.dense / out_proj) and its float32 logits in eval mode on those ids (padding=True), so the
Swift tests can give our import the same head and compare logits (PretrainedImportTests).

    python3 tools/make_pretrained_fixtures.py        # rewrites fixtures/pretrained/
"""
import json
import os
import shutil
import sys
import tempfile

import torch
import transformers
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForMaskedLM,
                          GPT2Config, GPT2LMHeadModel, RobertaConfig, RobertaModel)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "pretrained")
TOK = os.path.join(ROOT, "fixtures", "tokenizers")
MAX_LENGTH = 16
LABELS = 3
TEXTS = [
    "the movie was great!",
    "Terrible acting, but a wonderful score",
    "Ça va? naïve café résumé",
    "I can't believe it's not butter 😂😂",
    "",
    "a very long sentence that goes on and on well past the sixteen tokens the fixtures keep for truncation",
]
SMALL = dict(hidden=16, layers=2, heads=2, intermediate=32, positions=40)


TOKENIZER_CONFIG = {
    "bert": {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "unk_token": "[UNK]", "sep_token": "[SEP]",
             "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]", "model_max_length": 40},
    "gpt2": {"tokenizer_class": "GPT2Tokenizer", "bos_token": "</s>", "eos_token": "</s>", "unk_token": "<unk>",
             "pad_token": "<pad>", "add_prefix_space": False, "model_max_length": 40},
    "roberta": {"tokenizer_class": "RobertaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
                "add_prefix_space": False, "model_max_length": 40},
}


def tokenizer_folder(kind, folder):
    """The real tokenizer files of fixtures/tokenizers/ (trained with `tokenizers`) and a
    tokenizer_config.json naming the family's tokenizer class and special tokens."""
    sub = "wordpiece" if kind == "bert" else "bytebpe"
    for name in os.listdir(os.path.join(TOK, sub)):
        shutil.copy(os.path.join(TOK, sub, name), folder)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(TOKENIZER_CONFIG[kind], f, indent=2)


def keep_only(folder, names):
    for name in ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        path = os.path.join(folder, name)
        if name not in names and os.path.exists(path):
            os.remove(path)


def head_names(family):
    return {"bert": ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"],
            "gpt2": ["score.weight"],
            "roberta": ["classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight",
                        "classifier.out_proj.bias"]}[family]


def expected(folder, family):
    tok = AutoTokenizer.from_pretrained(folder)
    ids = [tok(t, truncation=True, max_length=MAX_LENGTH)["input_ids"] for t in TEXTS]
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=LABELS, dtype=torch.float32)
    model.eval()
    state = model.state_dict()
    # A GPT-2 text with no tokens cannot be classified; ours stands the pad id in for it.
    pad = model.config.pad_token_id
    rows = [r if r else [pad] for r in ids]
    T = max(len(r) for r in rows)
    input_ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask).logits
    return {
        "texts": TEXTS, "maxLength": MAX_LENGTH, "numLabels": LABELS, "ids": ids,
        "logits": logits.tolist(),
        "head": {n: {"shape": list(state[n].shape), "values": state[n].flatten().tolist()} for n in head_names(family)},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }


def save(model, folder, dtype=None, shard=None):
    if dtype is not None:
        model = model.to(dtype)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(folder, **kwargs)


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    torch.manual_seed(0)
    s = SMALL
    bert = BertForMaskedLM(BertConfig(
        vocab_size=2000, hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
        intermediate_size=s["intermediate"], max_position_embeddings=s["positions"], pad_token_id=0, initializer_range=0.3))
    gpt2 = GPT2LMHeadModel(GPT2Config(
        vocab_size=2000, n_embd=s["hidden"], n_layer=s["layers"], n_head=s["heads"], n_inner=s["intermediate"],
        n_positions=s["positions"], pad_token_id=1, bos_token_id=2, eos_token_id=2, initializer_range=0.3))
    roberta = RobertaModel(RobertaConfig(
        vocab_size=2000, hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
        intermediate_size=s["intermediate"], max_position_embeddings=s["positions"] + 2, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, type_vocab_size=1, layer_norm_eps=1e-5, initializer_range=0.3))
    plan = [
        ("bert-f32", bert, "bert", None, None, ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]),
        ("bert-f16", bert, "bert", torch.float16, None, ["vocab.txt", "tokenizer_config.json"]),
        ("bert-bf16", bert, "bert", torch.bfloat16, None, ["tokenizer.json", "tokenizer_config.json"]),
        ("bert-sharded", bert, "bert", None, "60KB", ["tokenizer.json", "tokenizer_config.json"]),
        ("gpt2-f32", gpt2, "gpt2", None, None, ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]),
        ("roberta-f32", roberta, "roberta", None, None, ["vocab.json", "merges.txt", "tokenizer_config.json"]),
    ]
    for name, model, family, dtype, shard, files in plan:
        folder = os.path.join(OUT, name)
        os.makedirs(folder)
        # A copy per folder: casting to F16 / BF16 must not change the next folder's weights.
        m = type(model)(model.config)
        m.load_state_dict(model.state_dict())
        save(m, folder, dtype, shard)
        tokenizer_folder(family, folder)
        keep_only(folder, files)
        with open(os.path.join(folder, "expected.json"), "w") as f:
            json.dump(expected(folder, family), f)
        print(name, sorted(os.listdir(folder)))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"fixtures/pretrained: {total / 1e6:.2f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
