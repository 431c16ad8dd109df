from keras_semdenoise.evaluation import tasks as task_evaluation


def test_evaluate_task_table_with_only_the_clean_cell():
    state = {"head": "h.keras", "data": "d", "split": "test",
             "cells": {"clean": {"clean": {"images": 7, "top1": 87.4, "top5": 99.5}}}}
    table = task_evaluation.markdown_table(state, "classification")
    assert "| setting | no noise |" in table and "| clean input (no noise) | 87.4 / 99.5 |" in table
    assert "7 images per cell" in table
