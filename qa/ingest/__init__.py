"""Ingest: a folder's files become clean `Document`s, and documents become `Chunk`s with offsets.

Takes paths; gives `Document` (cleaned text, title, signature) and `Chunk` (qa.types). Files are found,
read within limits in a worker process (`bounded`), extracted (txt, md, html, pdf, docx), cleaned, then
chunked along sentences. May import: the top-level modules (types, config, errors, atomic). No other stage.
"""
