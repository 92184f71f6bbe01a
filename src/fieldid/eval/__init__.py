"""Evaluation harness: data set readers (I/O), metrics (pure), extraction runners, reports."""
