"""Maps between Hugging Face state dicts and our internal parameter layout (DESIGN.md, "Models").

Guarantee: `ours_to_hf(family, hf_to_ours(family, sd))` returns `sd` bit for bit, for parameters
and for gradients alike. Our layout keeps Hugging Face's dotted names and `[out, in]` linear
weights; the one difference is GPT-2, whose `Conv1D` weights are `[in, out]` on the Hugging Face
side and whose fused `attn.c_attn` is split here into `attn.c_attn.{q,k,v}.{weight,bias}`.
The Swift `mmo-export` mirrors these two functions.
"""

import re
from collections import OrderedDict

FAMILIES = ("bert", "gpt2", "roberta")

# GPT-2 Conv1D modules (weight stored [in, out] by Hugging Face): y = x @ W + b.
_GPT2_CONV1D = re.compile(r"^transformer\.h\.(\d+)\.(attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")
_GPT2_C_ATTN = re.compile(r"^transformer\.h\.(\d+)\.attn\.c_attn\.(weight|bias)$")
_GPT2_QKV = re.compile(r"^transformer\.h\.(\d+)\.attn\.c_attn\.([qkv])\.(weight|bias)$")


def _check_family(family):
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")


def hf_to_ours(family, state):
    """Hugging Face `{name: tensor}` (parameters or their gradients) -> our layout, same order.

    Tensors are torch tensors or numpy arrays; returned tensors are contiguous copies where the
    layout changes and the same objects otherwise.
    """
    _check_family(family)
    out = OrderedDict()
    for name, t in state.items():
        if family != "gpt2":
            out[name] = t
            continue
        m = _GPT2_C_ATTN.match(name)
        if m:
            layer, what = m.groups()
            c = t.shape[0] if what == "weight" else t.shape[0] // 3
            for i, part in enumerate("qkv"):
                if what == "weight":  # [C, 3C] -> three [C(out), C(in)]
                    piece = t[:, i * c:(i + 1) * c].T
                else:  # [3C] -> three [C]
                    piece = t[i * c:(i + 1) * c]
                out[f"transformer.h.{layer}.attn.c_attn.{part}.{what}"] = _contiguous(piece)
            continue
        if _GPT2_CONV1D.match(name):
            out[name] = _contiguous(t.T)
            continue
        out[name] = t
    return out


def ours_to_hf(family, state):
    """Our layout -> Hugging Face `{name: tensor}`, inverse of `hf_to_ours`.

    GPT-2's q, k, v pieces must all be present; they are fused at the position of `q`.
    """
    _check_family(family)
    out = OrderedDict()
    for name, t in state.items():
        if family != "gpt2":
            out[name] = t
            continue
        m = _GPT2_QKV.match(name)
        if m:
            layer, part, what = m.groups()
            if part != "q":
                continue  # fused together with q below
            base = f"transformer.h.{layer}.attn.c_attn"
            try:
                pieces = [state[f"{base}.{p}.{what}"] for p in "qkv"]
            except KeyError as e:
                raise KeyError(f"{base}: missing {e.args[0]} (q, k and v are fused together)")
            if what == "weight":  # three [out, in] -> [in, 3*out]
                out[f"{base}.weight"] = _contiguous(_cat([p.T for p in pieces], axis=1))
            else:
                out[f"{base}.bias"] = _contiguous(_cat(pieces, axis=0))
            continue
        if _GPT2_CONV1D.match(name):
            out[name] = _contiguous(t.T)
            continue
        out[name] = t
    return out


def _contiguous(t):
    if hasattr(t, "contiguous"):
        return t.contiguous().clone()
    import numpy as np
    return np.ascontiguousarray(t).copy()


def _cat(parts, axis):
    if hasattr(parts[0], "contiguous"):
        import torch
        return torch.cat(parts, dim=axis)
    import numpy as np
    return np.concatenate(parts, axis=axis)


# MARK: - configs

def hf_config(cfg):
    """A `transformers` config for our model config (dict with the Swift `ModelConfig` fields).

    Eager attention; the classifier head's dropout follows `hiddenDropout` as in Hugging Face when
    `classifier_dropout` is None. GPT-2 uses `hiddenDropout` for `embd_pdrop` and `resid_pdrop`.
    """
    import transformers as tf
    family = cfg["family"]
    _check_family(family)
    if family == "gpt2":
        return tf.GPT2Config(
            vocab_size=cfg["vocabSize"], n_embd=cfg["hiddenSize"], n_layer=cfg["numLayers"],
            n_head=cfg["numHeads"], n_inner=cfg["intermediateSize"],
            n_positions=cfg["maxPositions"], num_labels=max(2, cfg["numLabels"]),
            embd_pdrop=cfg["hiddenDropout"], resid_pdrop=cfg["hiddenDropout"],
            attn_pdrop=cfg["attentionDropout"], layer_norm_epsilon=cfg["layerNormEps"],
            pad_token_id=cfg["padTokenID"], bos_token_id=None, eos_token_id=None,
            initializer_range=cfg["initializerRange"], activation_function="gelu_new",
            attn_implementation="eager")
    cls = tf.BertConfig if family == "bert" else tf.RobertaConfig
    extra = {"bos_token_id": 0, "eos_token_id": 2} if family == "roberta" else {}
    return cls(
        vocab_size=cfg["vocabSize"], hidden_size=cfg["hiddenSize"],
        num_hidden_layers=cfg["numLayers"], num_attention_heads=cfg["numHeads"],
        intermediate_size=cfg["intermediateSize"], max_position_embeddings=cfg["maxPositions"],
        num_labels=max(2, cfg["numLabels"]), hidden_dropout_prob=cfg["hiddenDropout"],
        attention_probs_dropout_prob=cfg["attentionDropout"], classifier_dropout=None,
        layer_norm_eps=cfg["layerNormEps"], pad_token_id=cfg["padTokenID"],
        type_vocab_size=cfg["typeVocabSize"], initializer_range=cfg["initializerRange"],
        hidden_act="gelu", attn_implementation="eager", **extra)


HF_CLASSES = {
    ("bert", "classification"): "BertForSequenceClassification",
    ("gpt2", "classification"): "GPT2ForSequenceClassification",
    ("roberta", "classification"): "RobertaForSequenceClassification",
    ("bert", "mlm"): "BertForMaskedLM",
    ("roberta", "mlm"): "RobertaForMaskedLM",
    ("gpt2", "clm"): "GPT2LMHeadModel",
}


def hf_model(cfg):
    """A freshly initialised Hugging Face model (float32) for our model config: the
    `*ForSequenceClassification` class, or with `objective` mlm / clm `BertForMaskedLM`,
    `RobertaForMaskedLM`, `GPT2LMHeadModel` (decoder tied to the word embeddings)."""
    import transformers as tf
    objective = cfg.get("objective", "classification")
    cls = getattr(tf, HF_CLASSES[(cfg["family"], objective)])
    config = hf_config(cfg)
    if objective != "classification":
        config.tie_word_embeddings = True
    model = cls(config)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    return model


def model_config(family, **fields):
    """Our model config (Swift `ModelConfig` field names) with the family's defaults filled in."""
    _check_family(family)
    cfg = {
        "family": family, "hiddenDropout": 0.1, "attentionDropout": 0.1,
        "layerNormEps": 1e-12 if family == "bert" else 1e-5,
        "padTokenID": 1 if family == "roberta" else 0,
        "typeVocabSize": 2 if family == "bert" else 1, "initializerRange": 0.02,
    }
    cfg.update(fields)
    return cfg
