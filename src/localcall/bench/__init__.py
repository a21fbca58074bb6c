"""Accuracy benchmarks for tool calling: BFCL's shipped data and localcall's own suite.

cases: the shapes every suite loads into and every run writes out.
bfcl: BFCL's data on disk, and its schemas turned into JSON Schema with OpenAI-style names.
suites: which cases a `--suite` names, sampled per category.
checker: BFCL's AST rules, judging a model's calls against a ground truth.
validity: what an answer looks like apart from being right (valid calls, leaked call text).
runner / endpoint: running cases against an in-process model or an OpenAI-compatible server.
report: the tables and the plot.
"""
