"""The model zoo: resumable queues of training runs (``runner``), written as data in ``queues.json``."""
