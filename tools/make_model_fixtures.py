#!/usr/bin/env python3
"""Writes the PyTorch + `transformers` reference fixtures of the three classifier families.

README
------
Regenerate (needs torch, transformers, safetensors; CI does not, the outputs are committed):

    python3 tools/make_model_fixtures.py            # writes fixtures/models/{bert,gpt2,roberta}.*
    python3 tools/make_model_fixtures.py --out DIR  # somewhere else

For each family (`BertForSequenceClassification`, `GPT2ForSequenceClassification`,
`RobertaForSequenceClassification`) the script builds a tiny model (hidden 32, 2 layers, 4 heads,
intermediate 64, vocabulary 50, 16 usable positions, 3 labels, every dropout 0, eager attention,
float32, CPU) from a fixed seed, perturbs every bias and LayerNorm parameter so that zeros and
ones hide no bug, runs a right-padded batch of 3 sequences of length 7 (real lengths 7, 4, 2)
with labels through forward (mean cross-entropy) and backward, and writes

* `<family>.safetensors`: `param.<name>` and `grad.<name>` for every parameter in OUR layout
  (tools/hf_layout.py: Hugging Face names, linear weights [out, in], GPT-2 q/k/v split), plus
  `input_ids` (int64 [3,7]), `lengths` (int64 [3]), `attention_mask` (int64 [3,7]),
  `labels` (int64 [3]), `logits` (f32 [3,3]) and `loss` (f32 [1]);
* `<family>.json`: the model config with the Swift `ModelConfig` field names, `parameterNames`
  (our order = Hugging Face's parameter order, GPT-2's c_attn expanded to q, k, v) with the
  parallel `parameterShapes`, the batch and the library versions.

Weights are drawn with std `initializerRange` = 0.2 rather than Hugging Face's 0.02 so that
attention is far from uniform and logits far from equal: a wrong scale or mask shows up.
After writing, the script re-reads each file, checks names, shapes and dtypes, converts our
layout back to a Hugging Face state dict and checks that it reproduces logits, loss and
gradients bit for bit. Tokens: no real token equals the pad id; RoBERTa sequences are
`<s>=0 … </s>=2`.

Language-model heads (always written; `--lm-only` writes only them): `BertForMaskedLM`, `RobertaForMaskedLM`
and `GPT2LMHeadModel` of the same tiny size (`objective` mlm / clm, `numLabels` 0), decoder tied to
the word embeddings (one tensor, whose gradient sums both uses), written as
`<family>-<objective>.{safetensors,json}` with the same keys except `labels`, which is int64
[3,7] per token (-100 = no prediction) and `logits` [3,7,50] over every position. Masked LM: the
labels are the original tokens at fixed positions MLM_POSITIONS; GPT-2: labels = input_ids with
padding set to -100, which `GPT2LMHeadModel` shifts by one (the Swift test shifts them itself).

Comparing: gradients of the attention key biases are mathematically zero (softmax is invariant
to a shift shared by all keys of a query), so those tensors hold float32 noise of about 1e-8;
a tolerance relative to a tensor's scale needs an absolute floor (e.g. 1e-6) for them.
Regeneration is bit-reproducible with the same torch build (one thread, fixed seeds).
"""

import argparse
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_layout  # noqa: E402

SEED = 1234
BATCH, SEQ = 3, 7
LENGTHS = [7, 4, 2]
LABELS = [0, 2, 1]
TINY = dict(vocabSize=50, hiddenSize=32, numLayers=2, numHeads=4, intermediateSize=64,
            numLabels=3, hiddenDropout=0.0, attentionDropout=0.0, initializerRange=0.2)


# (sequence, position) pairs the masked-LM fixtures predict: real tokens only, none special.
MLM_POSITIONS = [(0, 1), (0, 4), (0, 5), (1, 2), (2, 0)]
# State-dict entries of the LM heads that alias another tensor (the decoder is the word embedding,
# its bias the head's bias): absent from our layout, filled by the tie.
TIED_KEYS = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "lm_head.decoder.weight",
             "lm_head.decoder.bias", "lm_head.weight"}
LM_OBJECTIVE = {"bert": "mlm", "roberta": "mlm", "gpt2": "clm"}


def fixture_config(family, objective="classification"):
    # RoBERTa's position table holds padding_idx + 1 extra rows (positions start at pad + 1).
    positions = 16 + (2 if family == "roberta" else 0)
    cfg = hf_layout.model_config(family, maxPositions=positions, **TINY)
    if objective != "classification":
        cfg["objective"] = objective
        cfg["numLabels"] = 0
    return cfg


def lm_labels(cfg, ids, mask, gen):
    """Per-token labels: masked LM = the original token at MLM_POSITIONS (the input there holds
    a random token, as the 80/10/10 rule might leave it); causal LM = the ids, padding -100."""
    labels = torch.full(ids.shape, -100, dtype=torch.int64)
    if cfg["objective"] == "clm":
        labels[mask.bool()] = ids[mask.bool()]
        return ids, labels
    ids = ids.clone()
    for b, t in MLM_POSITIONS:
        assert mask[b, t] == 1
        labels[b, t] = ids[b, t]
        ids[b, t] = int(torch.randint(3, cfg["vocabSize"], (1,), generator=gen))
    return ids, labels


def make_batch(cfg, gen):
    """Right-padded token ids, no real token equal to the pad id."""
    pad, vocab = cfg["padTokenID"], cfg["vocabSize"]
    ids = torch.full((BATCH, SEQ), pad, dtype=torch.int64)
    mask = torch.zeros((BATCH, SEQ), dtype=torch.int64)
    low = 3 if cfg["family"] == "roberta" else 1  # RoBERTa: 0 <s>, 1 <pad>, 2 </s>
    for b, n in enumerate(LENGTHS):
        ids[b, :n] = torch.randint(low, vocab, (n,), generator=gen)
        if cfg["family"] == "roberta":
            ids[b, 0], ids[b, n - 1] = 0, 2
        mask[b, :n] = 1
    assert not (ids[mask.bool()] == pad).any()
    return ids, mask


def perturb(model, gen):
    """Adds N(0, 0.1) to every bias and LayerNorm weight (HF initialises them to 0 and 1)."""
    with torch.no_grad():
        norms = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
        for name, p in model.named_parameters():
            if name.endswith(".bias") or id(p) in norms:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


def run(model, ids, mask, labels):
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            raise RuntimeError(f"{name}: no gradient")
        grads[name] = p.grad.detach().clone()
    return out.logits.detach().clone(), out.loss.detach().reshape(1).clone(), grads


def build(family, objective="classification"):
    cfg = fixture_config(family, objective)
    torch.manual_seed(SEED)
    model = hf_layout.hf_model(cfg).float()
    model.train()  # dropouts are 0, so train mode equals eval; exercises the training path
    gen = torch.Generator().manual_seed(SEED + 1)
    perturb(model, gen)
    if family == "bert":
        assert (model.bert.pooler is not None) == (objective == "classification"), "pooler: classifier only"
    if family == "roberta":
        assert getattr(model.roberta, "pooler", None) is None, "RoBERTa classifier has no pooler"
    ids, mask = make_batch(cfg, gen)
    if objective == "classification":
        labels = torch.tensor(LABELS, dtype=torch.int64)
    else:
        ids, labels = lm_labels(cfg, ids, mask, gen)
        embeddings = model.get_input_embeddings().weight
        assert model.get_output_embeddings().weight is embeddings, f"{family}: decoder not tied"
    logits, loss, grads = run(model, ids, mask, labels)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    return cfg, model, ids, mask, labels, logits, loss, params, grads


def write(family, out_dir, objective="classification"):
    stem = family if objective == "classification" else f"{family}-{objective}"
    cfg, model, ids, mask, labels, logits, loss, params, grads = build(family, objective)
    ours_p = hf_layout.hf_to_ours(family, params)
    ours_g = hf_layout.hf_to_ours(family, grads)
    tensors = {f"param.{n}": t.contiguous() for n, t in ours_p.items()}
    tensors.update({f"grad.{n}": t.contiguous() for n, t in ours_g.items()})
    tensors.update(input_ids=ids, lengths=torch.tensor(LENGTHS, dtype=torch.int64),
                   attention_mask=mask, labels=labels, logits=logits, loss=loss)
    st_path = os.path.join(out_dir, f"{stem}.safetensors")
    # One metadata key only: safetensors writes a map's keys in hash order, not reproducibly.
    save_file(tensors, st_path, metadata={"producer": f"tools/make_model_fixtures.py ({stem})"})
    os.chmod(st_path, 0o644)  # the writer creates 0600 files
    doc = dict(cfg)
    doc["parameterNames"] = list(ours_p)
    doc["parameterShapes"] = [list(t.shape) for t in ours_p.values()]
    doc["batch"] = {"batchSize": BATCH, "sequenceLength": SEQ, "lengths": LENGTHS,
                    "labels": LABELS if objective == "classification" else labels.tolist()}
    doc["source"] = {"script": "tools/make_model_fixtures.py", "seed": SEED,
                     "torch": torch.__version__, "transformers": transformers.__version__}
    json_path = os.path.join(out_dir, f"{stem}.json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    self_check(family, st_path, json_path, objective)
    print(f"{stem}: {len(ours_p)} tensors, {sum(t.numel() for t in ours_p.values())} parameters, "
          f"loss {loss.item():.6f}, {os.path.getsize(st_path)} bytes -> {st_path}")


def self_check(family, st_path, json_path, objective="classification"):
    """Re-reads the files; our layout mapped back to HF must reproduce everything exactly."""
    t = load_file(st_path)
    with open(json_path) as f:
        doc = json.load(f)
    names, shapes = doc["parameterNames"], doc["parameterShapes"]
    expected = {f"{k}.{n}" for n in names for k in ("param", "grad")}
    expected |= {"input_ids", "lengths", "attention_mask", "labels", "logits", "loss"}
    assert set(t) == expected, sorted(set(t) ^ expected)
    for n, s in zip(names, shapes):
        for k in ("param", "grad"):
            assert list(t[f"{k}.{n}"].shape) == s and t[f"{k}.{n}"].dtype == torch.float32, n
    lm = objective != "classification"
    for n, s in [("input_ids", [BATCH, SEQ]), ("attention_mask", [BATCH, SEQ]),
                 ("lengths", [BATCH]), ("labels", [BATCH, SEQ] if lm else [BATCH])]:
        assert list(t[n].shape) == s and t[n].dtype == torch.int64, n
    width = [SEQ, doc["vocabSize"]] if lm else [doc["numLabels"]]
    assert list(t["logits"].shape) == [BATCH] + width and list(t["loss"].shape) == [1]
    assert torch.equal(t["attention_mask"].sum(1), t["lengths"])

    model = hf_layout.hf_model({k: doc[k] for k in fixture_config(family, objective)}).float()
    params = {n: t[f"param.{n}"] for n in names}
    # strict=False only for the tied decoder entries, which the tie fills (checked below).
    result = model.load_state_dict(hf_layout.ours_to_hf(family, params), strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert all(k in TIED_KEYS for k in result.missing_keys), result.missing_keys
    if objective != "classification":
        assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    model.train()
    logits, loss, grads = run(model, t["input_ids"], t["attention_mask"], t["labels"])
    assert torch.equal(logits, t["logits"]), f"{family}: logits differ after reverse mapping"
    assert torch.equal(loss, t["loss"]), f"{family}: loss differs after reverse mapping"
    back = hf_layout.hf_to_ours(family, grads)
    assert list(back) == names
    for n in names:
        assert torch.equal(back[n], t[f"grad.{n}"]), f"{family}: gradient {n} differs"
    roundtrip = hf_layout.hf_to_ours(family, hf_layout.ours_to_hf(family, params))
    assert all(torch.equal(roundtrip[n], params[n]) for n in names)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(here, "fixtures", "models"),
                    help="output folder (default: fixtures/models)")
    ap.add_argument("--family", choices=hf_layout.FAMILIES, action="append",
                    help="only this family (repeatable; default all)")
    ap.add_argument("--lm-only", action="store_true",
                    help="write only the language-model fixtures (<family>-<objective>.*)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # one thread: the reduction order, hence every bit, is reproducible
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    for family in args.family or hf_layout.FAMILIES:
        if not args.lm_only:
            write(family, args.out)
        write(family, args.out, LM_OBJECTIVE[family])


if __name__ == "__main__":
    main()
