"""Models: loading and running the encoders, and tokenisation.

Takes texts (and question–passage pairs); gives vectors (the embedder) and start/end logits (the reader's
network). The bundled BERTs run on ONNX Runtime (`bert_onnx`), any other model through transformers.
May import: the top-level modules (types, config, errors, atomic). No other stage.
"""
