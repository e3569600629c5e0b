"""Answering: from a question and the index to ranked, cited candidate spans (a folder, not `answer`: that name is
the public `qa.answer()`, which a subpackage of the same name would hide once imported).

Takes a question and an `IndexStore`; gives `Hit`s (the retriever: dense + BM25, fused; `head` adds the passage
that opens a document to a question about the document itself), `Span`s (the reader's network, and `decoding` of
its logits by the text rules of `spans`), and for each candidate the probability that it is right
(`evidence` gathers the features, `selector` weighs them). `normalize` is SQuAD's answer normalisation,
shared with eval. May import: index, models, ingest and the top-level modules. Never eval or ui.
"""
