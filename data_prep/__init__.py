"""Ingest image-folder domain datasets into verified HDF5 shards; label splits; the demo dataset.

This package does not import torch: it runs on CPU-only login or data nodes.
"""
