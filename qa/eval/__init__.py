"""Eval: question sets, the metrics and the HTML report behind `qa eval`.

Takes question sets (JSONL or SQuAD JSON) and the `Answer`s an `Assistant` gives; gives EM, F1, recall@k,
abstention, risk-coverage and calibration figures, and the report. May import: every stage below it and
`qa.pipeline`. Never ui.
"""
