"""Fuzz targets, their seed corpora (corpus/<target>/), and the scripted RTMP client they share."""
