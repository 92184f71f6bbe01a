"""Adapters that load model weights: dlib files from the model package, ONNX files by path.

Nothing loads at import time; :class:`~fieldid.models.registry.FaceModelLoader` loads on
first use and keeps the models for the life of the process.
"""
