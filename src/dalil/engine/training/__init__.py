"""The training engine: scenario templates, generated variants with answer keys, graders.

Pure Python (no Django): the Django training app stores classes and attempts and calls
``generate`` and ``grade_answers``; ``dalil train`` calls them directly.
"""
