"""The pipeline's step commands (``python -m pipelines.container prepare|evaluate|register|cleanup``).

Each module is one SageMaker processing job of the tenant's state machine
(``infra/orchestration_definition.py``); ``train`` is the training job
(:mod:`pipelines.training.train`) reading the ``train`` channel that ``prepare`` wrote.
:mod:`pipelines.runs.steps.context` holds what they share.
"""
