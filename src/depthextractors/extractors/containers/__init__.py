"""Byte-level readers of the containers depth recordings come in, apart from the extractors.

Each module here knows a file format (EBML/Matroska, ROS1 bags, gzip streams and the tar
archives inside them, PyAV's open containers) and nothing of depth frames, cameras or session
side files; the extractors one level up decide what the bytes mean.
"""
