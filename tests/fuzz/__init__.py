"""Fuzz targets for the RTMP core, their seed corpus, and a scripted RTMP client they share."""
