"""Evaluation: running an evaluator on a program in a sandbox and judging what it reports."""
