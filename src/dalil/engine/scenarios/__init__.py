"""Generators of realistic evidence with ground truth: the training engine's raw material.

``disk`` builds FAT32 and ext4 images with planted documents, photos, browser history,
chat exports, USB traces, deleted and carving-only files, and an answer key of every
planted item. Pure Python plus Debian's e2fsprogs; no Django.
"""
